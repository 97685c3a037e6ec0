import { describe, expect, it } from "vitest";
import { copyText, parseFragment, pasteFragment, PasteError } from "./clipboard";
import { EditorStore } from "./editorStore";
import { previewExpression, RUN_TIME, hasExpression } from "./expressions";
import { notesOf } from "./notes";
import { fieldsOf, parseJsonField, parseNumberField, setParam } from "./paramsForm";
import { catalogue } from "./testCatalogue";
import type { FlowDocument, JsonValue } from "./types";

const base = (): FlowDocument => ({
  schema_version: 1,
  name: "Flow",
  nodes: [
    { id: "start", type: "trigger.manual", position: { x: 0, y: 0 } },
    { id: "set", type: "data.set", position: { x: 300, y: 0 }, params: { values: { a: "{{ inputs.input.name }}" } } },
    { id: "tpl", type: "data.template", position: { x: 600, y: 0 } },
  ],
  edges: [
    { id: "e1", source: "start", source_port: "payload", target: "set", target_port: "input" },
    { id: "e2", source: "set", source_port: "output", target: "tpl", target_port: "input" },
  ],
});

describe("clipboard", () => {
  it("copies a valid flow fragment and pastes it with fresh ids, offset, inner edges only", () => {
    const doc = base();
    const text = copyText(doc, ["set", "tpl"]);
    const fragment = JSON.parse(text);
    expect(fragment).toMatchObject({ schema_version: 1, name: "Flow" });
    expect(fragment.edges.map((e: { id: string }) => e.id)).toEqual(["e2"]);
    const pasted = pasteFragment(doc, parseFragment(text));
    expect(pasted.nodeIds).toEqual(["set_2", "template"]);
    const added = pasted.doc.nodes.slice(3);
    expect(added[0]?.position).toEqual({ x: 340, y: 40 });
    expect(added[0]?.params).toEqual(doc.nodes[1]?.params);
    const newEdges = pasted.doc.edges.slice(2);
    expect(newEdges).toEqual([{ id: "e3", source: "set_2", source_port: "output", target: "template", target_port: "input" }]);
  });

  it("drops edges whose ends are not pasted and refuses text that is not a flow", () => {
    const text = JSON.stringify({ schema_version: 1, name: "x", nodes: [{ id: "a", type: "data.set" }], edges: [{ id: "e", source: "a", source_port: "output", target: "zz", target_port: "input" }] });
    expect(pasteFragment(base(), parseFragment(text)).doc.edges.length).toBe(2);
    expect(() => parseFragment("hello")).toThrow(PasteError);
    expect(() => parseFragment("{\"a\": 1}")).toThrow(/does not hold Plait nodes/);
    expect(() => parseFragment(JSON.stringify({ schema_version: 1, nodes: [{ id: 1 }] }))).toThrow(/id and a type/);
  });

  it("places a paste at a point", () => {
    const text = copyText(base(), ["set"]);
    const pasted = pasteFragment(base(), parseFragment(text), { at: { x: 10, y: 20 } });
    expect(pasted.doc.nodes.at(-1)?.position).toEqual({ x: 10, y: 20 });
  });
});

describe("editor store", () => {
  const store = () => {
    let t = 0;
    return new EditorStore(base(), catalogue, { now: () => (t += 10) });
  };

  it("adds, connects with checks, undoes and redoes", () => {
    const s = store();
    const id = s.addNode("data.set", { x: 1, y: 2 });
    expect(id).toBe("set_2");
    expect(s.getState().doc.nodes.at(-1)).toMatchObject({ id: "set_2", type: "data.set", version: 1 });
    expect(s.singleSelectedNode()).toBe("set_2");
    const refused = s.connect({ source: "set_2", sourcePort: "output", target: "tpl", targetPort: "input" });
    expect(refused.ok).toBe(false);
    expect(s.connect({ source: "start", sourcePort: "payload", target: "set_2", targetPort: "input" }).ok).toBe(true);
    expect(s.getState().doc.edges.length).toBe(3);
    s.undo();
    expect(s.getState().doc.edges.length).toBe(2);
    s.undo();
    expect(s.getState().doc.nodes.length).toBe(3);
    expect(s.getState().canUndo).toBe(false);
    s.redo();
    s.redo();
    expect(s.getState().doc.edges.length).toBe(3);
    expect(s.getState().canRedo).toBe(false);
  });

  it("makes one undo step of a drag and of typing in one field", () => {
    const s = store();
    for (let x = 0; x < 5; x++) s.moveNodes(new Map([["set", { x, y: 0 }]]));
    s.endDrag();
    for (const text of ["h", "ht", "htt"]) s.setNodeParam("tpl", ["template"], text, { coalesce: "tpl.template" });
    expect(s.getState().doc.nodes[2]?.params).toEqual({ template: "htt" });
    s.undo();
    expect(s.getState().doc.nodes[2]?.params).toBeUndefined();
    expect(s.getState().doc.nodes[1]?.position).toEqual({ x: 4, y: 0 });
    s.undo();
    expect(s.getState().doc.nodes[1]?.position).toEqual({ x: 300, y: 0 });
  });

  it("deletes the selection with its edges, and duplicates", () => {
    const s = store();
    s.select({ nodes: new Set(["set"]), edges: new Set(), notes: new Set() });
    expect(s.duplicateSelection()).toEqual(["set_2"]);
    s.select({ nodes: new Set(["set"]), edges: new Set(), notes: new Set() });
    s.deleteSelection();
    expect(s.getState().doc.nodes.map((n) => n.id)).toEqual(["start", "tpl", "set_2"]);
    expect(s.getState().doc.edges).toEqual([]);
  });

  it("keeps sticky notes in meta.notes, and lays out", () => {
    const s = store();
    const id = s.addNote({ x: 5, y: 5 }, "hello");
    s.updateNote(id, { text: "hello there" });
    expect(notesOf(s.getState().doc)).toEqual([{ id, text: "hello there", position: { x: 5, y: 5 }, width: 220, height: 140 }]);
    s.autoLayout();
    expect(notesOf(s.getState().doc)[0]?.position).toEqual({ x: 5, y: 5 });
    s.deleteNote(id);
    expect(s.getState().doc.meta).toBeUndefined();
  });

  it("pastes a refusal as an error and renames node ids with their edges", () => {
    const s = store();
    expect(() => s.paste("not json")).toThrow(PasteError);
    expect(s.renameNodeId("set", "shape")).toBeNull();
    expect(s.getState().doc.edges.map((e) => [e.source, e.target])).toEqual([["start", "shape"], ["shape", "tpl"]]);
    expect(s.renameNodeId("shape", "tpl")).toMatch(/already/);
    expect(s.renameNodeId("shape", "a b")).toMatch(/letters/);
  });

  it("notifies subscribers and counts document versions", () => {
    const s = store();
    let calls = 0;
    s.subscribe(() => calls++);
    s.rename("New name");
    expect(s.getState().doc.name).toBe("New name");
    expect(s.getState().docVersion).toBe(1);
    expect(calls).toBe(1);
  });
});

describe("params form", () => {
  const schema = {
    $defs: { JsonValue: {}, Case: { properties: { name: { type: "string" }, condition: { $ref: "#/$defs/JsonValue" } }, required: ["name"], type: "object" } },
    properties: {
      method: { default: "GET", enum: ["GET", "POST"], type: "string", title: "Method" },
      url: { type: "string", description: "http:// or https:// URL.", title: "Url" },
      timeout_s: { type: "number", default: 30, title: "Timeout S" },
      status: { type: "integer", minimum: 100 },
      follow: { type: "boolean", default: true },
      headers: { type: "object", additionalProperties: { type: "string" } },
      cases: { type: "array", items: { $ref: "#/$defs/Case" } },
      body: { $ref: "#/$defs/JsonValue", default: null },
      template: { type: "string", "x-plait-raw": true },
      opt: { anyOf: [{ type: "string" }, { type: "null" }], default: null },
    },
    required: ["url"],
    type: "object",
  } as { [key: string]: JsonValue };

  it("models each kind with paths, required, defaults and descriptions", () => {
    const fields = fieldsOf(schema);
    const by = Object.fromEntries(fields.map((f) => [f.key, f]));
    expect(fields.map((f) => f.kind)).toEqual(["enum", "string", "number", "integer", "boolean", "map", "list", "json", "text", "string"]);
    expect(by.url).toMatchObject({ path: "params.url", required: true, description: "http:// or https:// URL.", expressions: true });
    expect(by.method).toMatchObject({ default: "GET", options: ["GET", "POST"], required: false });
    expect(by.status?.minimum).toBe(100);
    expect(by.cases?.children[0]?.kind).toBe("object");
    expect(by.cases?.children[0]?.children.map((c) => [c.path, c.kind, c.required])).toEqual([
      ["params.cases.*.name", "string", true],
      ["params.cases.*.condition", "json", false],
    ]);
    expect(by.template?.expressions).toBe(false);
    expect(by.timeout_s?.label).toBe("Timeout S");
    expect(by.follow?.label).toBe("Follow");
  });

  it("parses field text", () => {
    expect(parseJsonField("{\"a\": 1}")).toEqual({ a: 1 });
    expect(parseJsonField("{{ inputs.input.ok }}")).toBe("{{ inputs.input.ok }}");
    expect(parseJsonField("hello")).toBe("hello");
    expect(parseJsonField("  ")).toBeUndefined();
    expect(parseNumberField("3.5", false)).toBe(3.5);
    expect(parseNumberField("", true)).toBeUndefined();
    expect(setParam({ a: { b: 1 } }, ["a", "c"], 2)).toEqual({ a: { b: 1, c: 2 } });
    expect(setParam({ a: 1 }, ["a"], undefined)).toEqual({});
  });
});

describe("expression preview", () => {
  const scope = {
    inputs: { input: { name: "Ada", tags: ["x", "y"] } },
    trigger: { payload: { x: 7 } },
    nodes: { fetch: { body: { id: 42 } } },
  };

  it("resolves plain path references against the last run", () => {
    expect(previewExpression("{{ inputs.input.name }}", scope)).toEqual({ ok: true, value: "Ada" });
    expect(previewExpression("{{ trigger.payload.x }}", scope)).toEqual({ ok: true, value: 7 });
    expect(previewExpression("{{ nodes.fetch.body.id }}", scope)).toEqual({ ok: true, value: 42 });
    expect(previewExpression("{{ inputs.input.tags[1] }}", scope)).toEqual({ ok: true, value: "y" });
    expect(previewExpression("Hi {{ inputs.input.name }} #{{ nodes.fetch.body.id }}", scope)).toEqual({ ok: true, value: "Hi Ada #42" });
    expect(previewExpression("plain", scope)).toEqual({ ok: true, value: "plain" });
  });

  it("never evaluates anything else", () => {
    for (const text of ["{{ inputs.input.age >= 18 }}", "{{ inputs.input.name | upper }}", "{{ secrets.KEY }}", "{{ inputs.input.missing }}", "{{ ''.__class__ }}"]) {
      expect(previewExpression(text, scope)).toEqual({ ok: false, reason: RUN_TIME });
    }
    expect(previewExpression("{{ inputs.input.name }}", null).ok).toBe(false);
    expect(hasExpression("a {{ b }}")).toBe(true);
    expect(hasExpression("a { b }")).toBe(false);
  });
});
