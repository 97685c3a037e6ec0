// The editor's screens as hash routes (`#/flows/<id>`), so the API can serve one index.html
// for every path and a reload lands on the same screen. Framework-free: parse and format only.

export type Route =
  | { name: "login" }
  | { name: "projects" }
  | { name: "project"; projectId: string; tab: ProjectTab }
  | { name: "flow"; flowId: string; runId?: string }
  | { name: "runs"; flowId: string }
  | { name: "not-found"; path: string };

export type ProjectTab = "flows" | "secrets" | "stages";
const TABS: ProjectTab[] = ["flows", "secrets", "stages"];

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, "").replace(/\/+$/, "") || "/projects";
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const [head, id, sub, subId] = parts;
  if (head === "login" && parts.length === 1) return { name: "login" };
  if (head === "projects" && parts.length === 1) return { name: "projects" };
  if (head === "projects" && id && parts.length <= 3) {
    const tab = (sub ?? "flows") as ProjectTab;
    if (TABS.includes(tab)) return { name: "project", projectId: id, tab };
  }
  if (head === "flows" && id) {
    if (parts.length === 2) return { name: "flow", flowId: id };
    if (sub === "runs" && parts.length === 3) return { name: "runs", flowId: id };
    if (sub === "runs" && subId && parts.length === 4) return { name: "flow", flowId: id, runId: subId };
  }
  return { name: "not-found", path };
}

export function formatRoute(route: Route): string {
  const e = encodeURIComponent;
  switch (route.name) {
    case "login":
      return "#/login";
    case "projects":
      return "#/projects";
    case "project":
      return `#/projects/${e(route.projectId)}${route.tab === "flows" ? "" : `/${route.tab}`}`;
    case "flow":
      return route.runId ? `#/flows/${e(route.flowId)}/runs/${e(route.runId)}` : `#/flows/${e(route.flowId)}`;
    case "runs":
      return `#/flows/${e(route.flowId)}/runs`;
    case "not-found":
      return `#${route.path}`;
  }
}
