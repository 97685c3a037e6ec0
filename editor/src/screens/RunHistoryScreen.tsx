import { useCallback, useEffect, useRef, useState } from "react";
import { flowsRead, projectsRead, runsList, type FlowPublic, type ProjectPublic, type RunPublic } from "../api/generated";
import { href, navigate } from "../app/navigation";
import { formatDuration, isLive, RUN_STATUSES, statusLabel, type RunStatus } from "./format";
import { Layout } from "./Layout";
import { Ago, EmptyState, ErrorBanner } from "./ui";

const PAGE = 50;
const REFRESH_MS = 2000;

/** Merges a fresh first page into the loaded runs: updated rows replaced, new ones on top. */
function mergeRuns(loaded: RunPublic[], fresh: RunPublic[]): RunPublic[] {
  const freshById = new Map(fresh.map((r) => [r.id, r]));
  const known = new Set(loaded.map((r) => r.id));
  const added = fresh.filter((r) => !known.has(r.id));
  return [...added, ...loaded.map((r) => freshById.get(r.id) ?? r)];
}

/** A flow's runs, newest first; refreshes itself while any shown run can still change. */
export function RunHistoryScreen({ flowId }: { flowId: string }) {
  const [flow, setFlow] = useState<FlowPublic | null>(null);
  const [project, setProject] = useState<ProjectPublic | null>(null);
  const [runs, setRuns] = useState<RunPublic[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [status, setStatus] = useState<RunStatus | "">("");
  const [error, setError] = useState<unknown>(null);
  const [loadingMore, setLoadingMore] = useState(false);
  const [, setTick] = useState(0);
  const statusRef = useRef(status);
  statusRef.current = status;

  useEffect(() => {
    flowsRead({ flow_id: flowId })
      .then((f) => {
        setFlow(f);
        return projectsRead({ project_id: f.project_id }).then(setProject);
      })
      .catch(setError);
  }, [flowId]);

  const load = useCallback(async () => {
    try {
      const page = await runsList({ flow_id: flowId, status: status ? [status] : null, limit: PAGE });
      setRuns(page.items);
      setCursor(page.next_cursor);
      setError(null);
    } catch (e) {
      setError(e);
    }
  }, [flowId, status]);
  useEffect(() => {
    setRuns(null);
    void load();
  }, [load]);

  const anyLive = runs?.some((r) => isLive(r.status)) ?? false;
  useEffect(() => {
    if (!anyLive) return;
    const timer = window.setInterval(async () => {
      const asked = statusRef.current;
      try {
        const page = await runsList({ flow_id: flowId, status: asked ? [asked] : null, limit: PAGE });
        if (statusRef.current === asked) setRuns((loaded) => (loaded ? mergeRuns(loaded, page.items) : page.items));
      } catch {
        // A missed refresh is retried on the next tick.
      }
      setTick((t) => t + 1);
    }, REFRESH_MS);
    return () => window.clearInterval(timer);
  }, [anyLive, flowId]);

  async function loadMore() {
    if (!cursor || !runs) return;
    setLoadingMore(true);
    try {
      const page = await runsList({ flow_id: flowId, status: status ? [status] : null, limit: PAGE, cursor });
      setRuns([...runs, ...page.items.filter((r) => !runs.some((x) => x.id === r.id))]);
      setCursor(page.next_cursor);
    } catch (e) {
      setError(e);
    } finally {
      setLoadingMore(false);
    }
  }

  const crumbs = [
    { label: "Projects", href: "#/projects" },
    ...(project ? [{ label: project.name, href: href({ name: "project", projectId: project.id, tab: "flows" }) }] : []),
    { label: flow?.name ?? "…", href: href({ name: "flow", flowId }) },
    { label: "Runs" },
  ];

  return (
    <Layout
      crumbs={crumbs}
      actions={<a className="scr-linkbtn primary" href={href({ name: "flow", flowId })}>Open on the canvas</a>}
    >
      <div className="scr-toolbar">
        <label className="scr-inline">
          Status
          <select value={status} onChange={(e) => setStatus(e.target.value as RunStatus | "")} aria-label="Filter by status">
            <option value="">all</option>
            {RUN_STATUSES.map((s) => <option key={s} value={s}>{statusLabel(s)}</option>)}
          </select>
        </label>
        <button onClick={() => void load()}>Refresh</button>
        {anyLive && <span className="muted small" role="status">Updating while runs are in progress…</span>}
      </div>
      {error != null && <ErrorBanner error={error} onRetry={() => void load()} />}
      {runs === null && error == null && <p className="muted">Loading runs…</p>}
      {runs && runs.length === 0 && (
        <EmptyState title={status ? `No ${statusLabel(status)} runs` : "No runs yet"} testId="runs-empty">
          {status ? (
            <button onClick={() => setStatus("")}>Show all runs</button>
          ) : (
            <p>
              Run the flow from the <a href={href({ name: "flow", flowId })}>canvas</a>, or publish it and call one of
              its routes; every run shows up here.
            </p>
          )}
        </EmptyState>
      )}
      {runs && runs.length > 0 && (
        <table className="scr-table scr-runs" aria-label="Runs">
          <thead>
            <tr><th>Status</th><th>Started by</th><th>Started</th><th>Duration</th><th>Version</th><th><span className="sr-only">Open</span></th></tr>
          </thead>
          <tbody>
            {runs.map((run) => {
              const to = { name: "flow" as const, flowId, runId: run.id };
              return (
                <tr key={run.id} data-testid="run-row" data-run-id={run.id} data-status={run.status}
                  className="scr-clickable" onClick={() => navigate(to)}>
                  <td><span className={`scr-status ${run.status}`}>{statusLabel(run.status)}</span></td>
                  <td>{run.kind}{run.trigger ? <span className="muted"> · {run.trigger}</span> : null}</td>
                  <td><Ago iso={run.started_at ?? run.created_at} /></td>
                  <td>{formatDuration(run.started_at, run.finished_at) ?? <span className="muted">waiting</span>}</td>
                  <td>{run.version === null ? <span className="muted">draft</span> : `v${run.version}`}</td>
                  <td><a href={href(to)} onClick={(e) => e.stopPropagation()} aria-label={`Open run ${run.id}`}>Open</a></td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {cursor && (
        <button className="scr-more" onClick={() => void loadMore()} disabled={loadingMore}>
          {loadingMore ? "Loading…" : "Load more runs"}
        </button>
      )}
    </Layout>
  );
}
