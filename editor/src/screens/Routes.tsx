import type { PublishedRoute, PublishedSchedule } from "../api/generated";
import { curlCommand, pathFormUrl, routeVariables } from "./format";
import { CopyButton, UrlLine } from "./ui";

/** A publication's routes with their full URLs (host form, and the path form any host serves). */
export function RouteList({ routes, schedules, slug, stage }: {
  routes: PublishedRoute[];
  schedules: PublishedSchedule[];
  slug: string;
  stage: string;
}) {
  if (routes.length === 0 && schedules.length === 0) {
    return <p className="muted small">No webhook routes or schedules: this flow starts only by hand or from another flow.</p>;
  }
  return (
    <ul className="scr-routes" aria-label="Routes">
      {routes.map((route) => {
        const alt = pathFormUrl(route.url, slug, stage);
        const curl = curlCommand(route.method, alt ?? route.url);
        const variables = routeVariables(route.path);
        return (
          <li key={`${route.node_id}-${route.method}-${route.path}`} data-testid="route" data-node-id={route.node_id}>
            <span className="scr-method">{route.method}</span>
            <div className="scr-route-urls">
              <UrlLine url={route.url} testId="route-url" />
              {alt && (
                <span className="muted small scr-alt">
                  or on any host of the router: <UrlLine url={alt} testId="route-path-url" />
                </span>
              )}
              <span className="muted small scr-try">
                try it:{" "}
                <span className="scr-url">
                  <code data-testid="route-curl">{curl}</code>
                  <CopyButton text={curl} />
                </span>
                {variables.length > 0 && <> — replace {variables.map((v) => `{${v}}`).join(", ")} with a value</>}
              </span>
            </div>
            <span className="muted small">
              node <code>{route.node_id}</code> · {route.mode === "async" ? "answers 202 at once" : "answers with the flow's response"}
            </span>
          </li>
        );
      })}
      {schedules.map((schedule) => (
        <li key={`schedule-${schedule.node_id}`} data-testid="schedule">
          <span className="scr-method">CRON</span>
          <code>{schedule.cron}</code>
          <span className="muted small">{schedule.timezone} · node <code>{schedule.node_id}</code></span>
        </li>
      ))}
    </ul>
  );
}
