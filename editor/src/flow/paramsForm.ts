// A node's params JSON Schema (from the catalogue) turned into a form model the side panel draws.
// Framework-free: each field knows its path (`params.url`, matching validation problems'
// `field`), kind, label, help, default and whether it is required.
import type { JsonValue } from "./types";

type Schema = { [key: string]: JsonValue };

export type FieldKind =
  | "string" | "text" | "number" | "integer" | "boolean" | "enum"
  | "object" | "map" | "list" | "json";

export interface FieldModel {
  /** Key inside its parent object (or index as a string inside a list). */
  key: string;
  /** Dotted path from the node: `params.url`. */
  path: string;
  kind: FieldKind;
  label: string;
  description: string | null;
  required: boolean;
  default: JsonValue | undefined;
  examples: JsonValue[];
  options: JsonValue[];
  minimum?: number;
  maximum?: number;
  /** Strings whose `{{ … }}` are evaluated at run time (all but `x-plait-raw` ones). */
  expressions: boolean;
  /** `object`: its properties; `list`: the item model (key "*"); `map`: the value model. */
  children: FieldModel[];
}

function isSchema(value: JsonValue | undefined): value is Schema {
  return !!value && typeof value === "object" && !Array.isArray(value);
}

/** Follows local `$ref`s and unwraps `anyOf [X, null]` (Pydantic's Optional). */
export function resolveSchema(schema: Schema, root: Schema, depth = 0): Schema {
  if (depth > 20) return {};
  const ref = schema.$ref;
  if (typeof ref === "string" && ref.startsWith("#/")) {
    let target: JsonValue | undefined = root;
    for (const part of ref.slice(2).split("/")) target = isSchema(target) ? target[part.replace(/~1/g, "/").replace(/~0/g, "~")] : undefined;
    const { $ref: _ignored, ...rest } = schema;
    return resolveSchema({ ...(isSchema(target) ? target : {}), ...rest }, root, depth + 1);
  }
  const anyOf = schema.anyOf;
  if (Array.isArray(anyOf)) {
    const nonNull = anyOf.filter((s) => !(isSchema(s) && s.type === "null"));
    if (nonNull.length === 1 && isSchema(nonNull[0])) {
      const { anyOf: _ignored, ...rest } = schema;
      return resolveSchema({ ...nonNull[0], ...rest }, root, depth + 1);
    }
  }
  return schema;
}

function humanize(key: string): string {
  const words = key.replace(/_/g, " ").trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function kindOf(schema: Schema): FieldKind {
  if (Array.isArray(schema.enum) && schema.enum.length) return "enum";
  if (schema.const !== undefined) return "enum";
  const type = schema.type;
  if (type === "string") return schema["x-plait-multiline"] || schema["x-plait-raw"] || schema.format === "textarea" ? "text" : "string";
  if (type === "number") return "number";
  if (type === "integer") return "integer";
  if (type === "boolean") return "boolean";
  if (type === "object") {
    if (isSchema(schema.properties) && Object.keys(schema.properties).length) return "object";
    if (isSchema(schema.additionalProperties) || schema.additionalProperties === true || schema.additionalProperties === undefined) return "map";
    return "json";
  }
  if (type === "array" && isSchema(schema.items)) return "list";
  return "json";
}

export function fieldFor(key: string, path: string, raw: Schema, root: Schema, required: boolean, depth = 0): FieldModel {
  const schema = resolveSchema(raw, root);
  const kind = depth > 6 ? "json" : kindOf(schema);
  const field: FieldModel = {
    key,
    path,
    kind,
    label: typeof schema.title === "string" && schema.title !== "Params" ? schema.title : humanize(key),
    description: typeof schema.description === "string" ? schema.description : null,
    required,
    default: schema.default,
    examples: Array.isArray(schema.examples) ? schema.examples : [],
    options: Array.isArray(schema.enum) ? schema.enum : schema.const !== undefined ? [schema.const] : [],
    expressions: (kind === "string" || kind === "text" || kind === "json") && schema["x-plait-raw"] !== true,
    children: [],
  };
  if (typeof schema.minimum === "number") field.minimum = schema.minimum;
  if (typeof schema.maximum === "number") field.maximum = schema.maximum;
  if (kind === "object") field.children = fieldsOf(schema, root, path, depth + 1);
  else if (kind === "list") field.children = [fieldFor("*", `${path}.*`, schema.items as Schema, root, false, depth + 1)];
  else if (kind === "map") {
    const value = isSchema(schema.additionalProperties) ? schema.additionalProperties : {};
    field.children = [fieldFor("*", `${path}.*`, value, root, false, depth + 1)];
  }
  return field;
}

/** The fields of an object schema, in declaration order; `prefix` is the path of the object. */
export function fieldsOf(schema: Schema, root: Schema = schema, prefix = "params", depth = 0): FieldModel[] {
  const resolved = resolveSchema(schema, root);
  const properties = isSchema(resolved.properties) ? resolved.properties : {};
  const required = new Set(Array.isArray(resolved.required) ? resolved.required.map(String) : []);
  return Object.entries(properties)
    .filter((entry): entry is [string, Schema] => isSchema(entry[1]))
    .map(([key, sub]) => fieldFor(key, `${prefix}.${key}`, sub, root, required.has(key), depth));
}

/** The value to show for a field: what is set, else its default. */
export function shownValue(field: FieldModel, value: JsonValue | undefined): JsonValue | undefined {
  return value === undefined ? field.default : value;
}

/**
 * What a JSON field's text means: JSON when it parses (`3`, `{"a": 1}`, `true`), otherwise the
 * text as a string, so `{{ inputs.input.ok }}` can be typed as is.
 */
export function parseJsonField(text: string): JsonValue | undefined {
  const trimmed = text.trim();
  if (!trimmed) return undefined;
  if (trimmed.startsWith("{{")) return text;
  try {
    return JSON.parse(trimmed) as JsonValue;
  } catch {
    return text;
  }
}

export function formatJsonField(value: JsonValue | undefined): string {
  if (value === undefined) return "";
  if (typeof value === "string") return value;
  return JSON.stringify(value, null, 2);
}

/** Number input text to a value: empty leaves the param unset (its default applies). */
export function parseNumberField(text: string, integer: boolean): JsonValue | undefined {
  if (text.trim() === "") return undefined;
  const n = Number(text);
  if (!Number.isFinite(n)) return text;
  return integer && Number.isInteger(n) ? n : integer ? text : n;
}

/** Sets (or with `undefined`, removes) `key` in a params object, giving a new object. */
export function setParam(
  params: { [key: string]: JsonValue } | undefined,
  path: string[],
  value: JsonValue | undefined,
): { [key: string]: JsonValue } {
  const [head, ...rest] = path;
  const next: { [key: string]: JsonValue } = { ...(params ?? {}) };
  if (head === undefined) return next;
  if (!rest.length) {
    if (value === undefined) delete next[head];
    else next[head] = value;
    return next;
  }
  const child = next[head];
  next[head] = setParam(child && typeof child === "object" && !Array.isArray(child) ? child : {}, rest, value);
  return next;
}
