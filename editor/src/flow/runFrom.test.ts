import { describe, expect, it } from "vitest";
import { planRunFrom, upstreamNodes } from "./runFrom";
import { applyEvents, emptyRun, type RunEvent } from "./runState";
import type { FlowDocument } from "./types";

function edge(id: string, source: string, target: string, kind?: "data" | "tool", sourcePort = "out") {
  return { id, source, source_port: sourcePort, target, target_port: "input", ...(kind ? { kind } : {}) };
}

// start → a → b → c, start → side; model → b is a service (tool) edge.
const document: FlowDocument = {
  schema_version: 1,
  name: "Chain",
  nodes: ["start", "a", "side", "model", "b", "c"].map((id) => ({ id, type: "data.set" })),
  edges: [
    edge("e1", "start", "a"),
    edge("e2", "a", "b"),
    edge("e3", "b", "c"),
    edge("e4", "start", "side"),
    edge("e5", "model", "b", "tool"),
    edge("e6", "start", "b"),
  ],
};

function ev(seq: number, type: string, nodeId: string | null, data: RunEvent["data"] = {}): RunEvent {
  return { seq, type, node_id: nodeId, data, ts: seq };
}

describe("upstreamNodes", () => {
  it("walks data edges back to the trigger, in document order, without the node itself", () => {
    expect(upstreamNodes(document, "c")).toEqual(["start", "a", "b"]);
    expect(upstreamNodes(document, "b")).toEqual(["start", "a"]);
    expect(upstreamNodes(document, "start")).toEqual([]);
  });

  it("survives a cycle", () => {
    const cyclic = { ...document, edges: [...document.edges, edge("back", "c", "a")] };
    expect(upstreamNodes(cyclic, "a")).toEqual(["start", "a", "b", "c"].filter((id) => id !== "a"));
  });
});

describe("planRunFrom", () => {
  const run = applyEvents(emptyRun("r"), [
    ev(1, "run.started", null, { nodes: ["start", "a", "side", "b", "c"] }),
    ev(2, "node.succeeded", "start", { outputs: { out: { n: 1 } } }),
    ev(3, "node.succeeded", "a", { outputs: { out: 2 } }),
    ev(4, "node.failed", "b", { error: { kind: "x", message: "boom" }, routed: "stop" }),
    ev(5, "node.abandoned", "c"),
  ]);

  it("pins the outputs of every upstream node from the shown run", () => {
    expect(planRunFrom(document, run, "b")).toEqual({
      ok: true,
      fromNode: "b",
      pinned: { start: { out: { n: 1 } }, a: { out: 2 } },
    });
  });

  it("says which upstream nodes have no outputs in that run", () => {
    expect(planRunFrom(document, run, "c")).toEqual({ ok: false, missing: ["b"] });
    expect(planRunFrom(document, null, "b")).toEqual({ ok: false, missing: ["start", "a"] });
    expect(planRunFrom(document, run, "nope")).toEqual({ ok: false, missing: [] });
  });

  it("pins a failure routed to the error port (its error is its output)", () => {
    const routed = applyEvents(run, [ev(6, "node.failed", "b", { error: { kind: "x", message: "boom" }, routed: "error_port" })]);
    const plan = planRunFrom(document, routed, "c");
    expect(plan.ok && plan.pinned.b).toEqual({ error: { kind: "x", message: "boom" } });
  });
});
