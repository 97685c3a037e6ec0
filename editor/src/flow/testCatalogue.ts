// A small catalogue in the API's shape for the unit tests (mirrors `GET /api/nodes`).
import type { Catalogue } from "../api/generated";
import { CatalogueIndex } from "./catalogue";

const any = (name: string, extra: Record<string, unknown> = {}) => ({ name, type: "any", required: false, ...extra });

export const CATALOGUE: Catalogue = {
  catalogue_version: 1,
  port_types: ["any", "object", "array", "string", "number", "integer", "boolean", "null", "error"],
  fits: {
    any: ["any", "object", "array", "string", "number", "integer", "boolean", "null", "error"],
    object: ["any", "object"],
    array: ["any", "array"],
    string: ["any", "string"],
    number: ["any", "number"],
    integer: ["any", "number", "integer"],
    boolean: ["any", "boolean"],
    null: ["any", "null"],
    error: ["any", "object", "error"],
  },
  nodes: [
    { type: "trigger.manual", version: 1, title: "Manual trigger", category: "triggers", description: "", idempotent: true, trigger: true, params_schema: {}, inputs: [], outputs: [any("payload")] },
    { type: "data.set", version: 1, title: "Set values", category: "data", description: "", idempotent: true, trigger: false, params_schema: {}, inputs: [any("input")], outputs: [{ name: "output", type: "object", required: false }] },
    { type: "data.template", version: 1, title: "Template", category: "data", description: "Jinja2 text", idempotent: true, trigger: false, params_schema: {}, inputs: [any("input")], outputs: [{ name: "text", type: "string", required: false }] },
    { type: "test.numbers", version: 1, title: "Numbers", category: "test", description: "", idempotent: true, trigger: false, params_schema: {}, inputs: [{ name: "n", type: "number", required: true }], outputs: [{ name: "count", type: "integer", required: false }] },
    { type: "control.merge", version: 1, title: "Merge", category: "control", description: "", idempotent: true, trigger: false, params_schema: {}, inputs: [any("inputs", { multi: true })], outputs: [any("output")], join_param: "mode" },
    { type: "control.switch", version: 1, title: "Switch", category: "control", description: "", idempotent: true, trigger: false, params_schema: {}, inputs: [any("input")], outputs: [any("default")], dynamic_outputs: { from_param: "cases", name_field: "name", extra: ["default"], type: "any" } },
    { type: "ai.agent", version: 1, title: "Agent", category: "ai", description: "", idempotent: false, trigger: false, params_schema: {}, inputs: [any("input"), any("tools", { multi: true, service: "tool" })], outputs: [any("output")] },
    { type: "ai.tool", version: 1, title: "Tool", category: "ai", description: "", idempotent: false, trigger: false, params_schema: {}, inputs: [], outputs: [any("tool", { service: "tool" })] },
  ],
};

export const catalogue = new CatalogueIndex(CATALOGUE);
