import { describe, expect, it } from "vitest";
import { fromCanvas, toCanvas } from "./canvas";
import { portsOf } from "./catalogue";
import { checkConnection } from "./connections";
import { History } from "./history";
import { newNodeId, slugForType } from "./ids";
import { autoLayout, freeSpot } from "./layout";
import { notesOf } from "./notes";
import { fieldProblems, indexProblems } from "./problems";
import { catalogue } from "./testCatalogue";
import type { FlowDocument } from "./types";

const doc: FlowDocument = {
  schema_version: 1,
  name: "Greet",
  nodes: [
    { id: "start", type: "trigger.manual", version: 1, position: { x: 0, y: 10.5 } },
    { id: "set", type: "data.set", version: 1, title: "Shape", position: { x: 300, y: 0 }, params: { values: { a: 1 } }, retry: { max_attempts: 3 } },
    { id: "num", type: "test.numbers", version: 1, position: { x: 600, y: 0 } },
    { id: "merge", type: "control.merge", version: 1, position: { x: 600, y: 200 } },
  ],
  edges: [{ id: "e1", source: "start", source_port: "payload", target: "set", target_port: "input" }],
  meta: { notes: [{ id: "n1", text: "why", position: { x: 5, y: 6 }, width: 200, height: 100 }], owner: "ops" },
};

describe("canvas serialisation", () => {
  it("round-trips a document through xyflow nodes and edges", () => {
    const { nodes, edges } = toCanvas(doc);
    expect(nodes.map((n) => n.id)).toEqual(["note:n1", "start", "set", "num", "merge"]);
    expect(edges[0]).toMatchObject({ source: "start", sourceHandle: "payload", target: "set", targetHandle: "input" });
    expect(JSON.parse(JSON.stringify(nodes.map((n) => n.data)))).toEqual(nodes.map((n) => n.data));
    expect(fromCanvas(doc, nodes, edges)).toEqual(doc);
  });

  it("keeps derived nodes for unchanged document nodes", () => {
    const first = toCanvas(doc).nodes;
    const moved: FlowDocument = { ...doc, nodes: doc.nodes.map((n) => (n.id === "num" ? { ...n, position: { x: 1, y: 1 } } : n)) };
    const second = toCanvas(moved).nodes;
    expect(second[1]).toBe(first[1]);
    expect(second[3]).not.toBe(first[3]);
  });

  it("moves a note through the canvas", () => {
    const { nodes, edges } = toCanvas(doc);
    const moved = nodes.map((n) => (n.id === "note:n1" ? { ...n, position: { x: 50, y: 60 } } : n));
    expect(notesOf(fromCanvas(doc, moved, edges))[0]?.position).toEqual({ x: 50, y: 60 });
  });
});

describe("connections", () => {
  const check = (source: string, sourcePort: string, target: string, targetPort: string, d = doc) =>
    checkConnection(d, catalogue, { source, sourcePort, target, targetPort });

  it("accepts fitting ports", () => {
    expect(check("set", "output", "merge", "inputs")).toEqual({ ok: true, kind: "data" });
  });
  it("refuses a type that does not fit, saying why", () => {
    const r = check("set", "output", "num", "n");
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/gives object, which does not fit input 'n'.*number/);
  });
  it("lets integer feed number", () => {
    const d: FlowDocument = { ...doc, nodes: [...doc.nodes, { id: "num2", type: "test.numbers" }] };
    expect(check("num", "count", "num2", "n", d).ok).toBe(true);
  });
  it("refuses a second edge into a single-valued input but not into a multi one", () => {
    const r = check("merge", "output", "set", "input");
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/takes one value and already has an edge/);
    const d: FlowDocument = { ...doc, edges: [...doc.edges, { id: "e2", source: "set", source_port: "output", target: "merge", target_port: "inputs" }] };
    expect(check("start", "payload", "merge", "inputs", d).ok).toBe(true);
  });
  it("refuses self and duplicate edges", () => {
    expect(check("merge", "output", "merge", "inputs")).toEqual({ ok: false, reason: "A node cannot be connected to itself." });
    const d: FlowDocument = { ...doc, edges: [{ id: "e2", source: "set", source_port: "output", target: "merge", target_port: "inputs" }] };
    expect(check("set", "output", "merge", "inputs", d)).toEqual({ ok: false, reason: "These two ports are already connected." });
  });
  it("joins service ports only to services of their kind", () => {
    const d: FlowDocument = { ...doc, nodes: [...doc.nodes, { id: "agent", type: "ai.agent" }, { id: "tool", type: "ai.tool" }] };
    expect(check("tool", "tool", "agent", "tools", d)).toEqual({ ok: true, kind: "tool" });
    const r = check("set", "output", "agent", "tools", d);
    expect(r.ok || r.reason).toMatch(/takes a tool service, not data/);
    expect(check("tool", "tool", "agent", "input", d).ok).toBe(false);
  });
  it("refuses unknown ports", () => {
    expect(check("set", "nope", "merge", "inputs").ok).toBe(false);
  });
});

describe("ports", () => {
  it("adds switch cases and the error port", () => {
    const spec = catalogue.get("control.switch");
    const ports = portsOf({ id: "s", type: "control.switch", params: { cases: [{ name: "big", condition: true }, { name: "small" }] }, on_error: "error_port" }, spec);
    expect(ports.outputs.map((p) => p.name)).toEqual(["big", "small", "default", "error"]);
  });
});

describe("history", () => {
  it("coalesces edits with one key close in time, and is bounded", () => {
    const h = new History<number>({ limit: 3, coalesceMs: 100 });
    h.record(0, "drag", 0);
    h.record(1, "drag", 50);
    h.record(2, "drag", 120);
    expect(h.undo(3)).toBe(0);
    expect(h.canUndo).toBe(false);
    expect(h.redo(0)).toBe(3);
    for (let i = 0; i < 10; i++) h.record(i, null, 1000 + i);
    let n = 0;
    while (h.undo(99) !== null) n++;
    expect(n).toBe(3);
  });
  it("a new edit drops the redo future", () => {
    const h = new History<string>();
    h.record("a");
    h.undo("b");
    expect(h.canRedo).toBe(true);
    h.record("a2");
    expect(h.canRedo).toBe(false);
  });
});

describe("ids", () => {
  it("derives readable unique ids from the type", () => {
    expect(slugForType("http.request")).toBe("request");
    expect(newNodeId("data.set", new Set(["set", "set_2"]))).toBe("set_3");
    expect(newNodeId("x.9lives", new Set())).toBe("n_9lives");
    expect(newNodeId("x.<script>", new Set())).toMatch(/^[a-z_0-9]+$/);
  });
});

describe("layout", () => {
  it("lays out left to right", () => {
    const laid = autoLayout(doc);
    const x = (id: string) => laid.nodes.find((n) => n.id === id)!.position!.x;
    expect(x("start")).toBeLessThan(x("set"));
    expect(laid.meta).toBe(doc.meta);
  });
  it("places new nodes where nothing is", () => {
    expect(freeSpot(doc, { x: 1000, y: 1000 })).toEqual({ x: 1000, y: 1000 });
    const spot = freeSpot(doc, { x: 300, y: 0 });
    expect(spot.x).toBe(300);
    expect(spot.y).toBeGreaterThanOrEqual(110);
  });
});

describe("problems", () => {
  it("indexes problems by node, edge, field and document", () => {
    const index = indexProblems([
      { code: "invalid_params", message: "url required", node_id: "h", field: "params.url", severity: "error" },
      { code: "bad_expression", message: "bad", node_id: "s", field: "params.values.a" },
      { code: "multiple_edges", message: "two", node_id: "h", edge_id: "e2", field: "target_port" },
      { code: "no_trigger", message: "no trigger", severity: "warning" },
    ]);
    expect(index.byNode.get("h")?.length).toBe(2);
    expect(index.byEdge.get("e2")?.[0]?.code).toBe("multiple_edges");
    expect(fieldProblems(index, "s", "params.values").length).toBe(1);
    expect(fieldProblems(index, "s", "params.values", true).length).toBe(0);
    expect(fieldProblems(index, "h", "target_port").length).toBe(0);
    expect(index.document.map((p) => p.code)).toEqual(["no_trigger"]);
    expect([index.errors, index.warnings]).toEqual([3, 1]);
  });
});

describe("reuseIfSame", () => {
  it("keeps the previous array when every item is the same object", async () => {
    const { reuseIfSame } = await import("./canvas");
    const a = { id: "a" };
    const b = { id: "b" };
    const previous = [a, b];
    expect(reuseIfSame(previous, [a, b])).toBe(previous);
    const changed = [a, { id: "b" }];
    expect(reuseIfSame(previous, changed)).toBe(changed);
    const shorter = [a];
    expect(reuseIfSame(previous, shorter)).toBe(shorter);
    const fresh = [a];
    expect(reuseIfSame(null, fresh)).toBe(fresh);
  });
});
