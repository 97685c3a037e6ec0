import { describe, expect, it } from "vitest";
import { formatRoute, parseRoute, type Route } from "./routes";

describe("routes", () => {
  it("round-trips every screen", () => {
    const routes: Route[] = [
      { name: "login" },
      { name: "projects" },
      { name: "project", projectId: "p1", tab: "flows" },
      { name: "project", projectId: "p1", tab: "secrets" },
      { name: "project", projectId: "p1", tab: "stages" },
      { name: "flow", flowId: "f1" },
      { name: "flow", flowId: "f1", runId: "r1" },
      { name: "runs", flowId: "f1" },
    ];
    for (const route of routes) expect(parseRoute(formatRoute(route))).toEqual(route);
  });

  it("defaults to the projects list and reports unknown paths", () => {
    expect(parseRoute("")).toEqual({ name: "projects" });
    expect(parseRoute("#/")).toEqual({ name: "projects" });
    expect(parseRoute("#/nope/x")).toEqual({ name: "not-found", path: "/nope/x" });
    expect(parseRoute("#/projects/p1/bogus")).toEqual({ name: "not-found", path: "/projects/p1/bogus" });
  });

  it("encodes ids", () => {
    expect(formatRoute({ name: "flow", flowId: "a/b" })).toBe("#/flows/a%2Fb");
    expect(parseRoute("#/flows/a%2Fb")).toEqual({ name: "flow", flowId: "a/b" });
  });
});
