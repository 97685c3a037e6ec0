// `{{ … }}` expressions in string params: finding them, and previewing plain path references
// (`{{ inputs.input.name }}`, `{{ trigger.payload.x }}`, `{{ nodes.fetch.body.id }}`) against
// the last run's data. Nothing is ever evaluated: anything beyond a dotted path (filters,
// operators, calls) is "computed at run time".
import type { JsonValue } from "./types";

export const RUN_TIME = "computed at run time";

const EXPRESSION = /\{\{([\s\S]*?)\}\}/g;
const PLAIN_PATH = /^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*|\[\s*(?:\d+|"[^"]*"|'[^']*')\s*\])*$/;
const ROOTS = new Set(["inputs", "trigger", "nodes"]);

export function hasExpression(value: unknown): boolean {
  return typeof value === "string" && /\{\{[\s\S]*?\}\}/.test(value);
}

export function expressionsIn(text: string): string[] {
  return [...text.matchAll(EXPRESSION)].map((m) => (m[1] ?? "").trim());
}

/** What expressions may read, from the last run. */
export interface ExpressionScope {
  inputs?: { [port: string]: JsonValue } | null;
  trigger?: { [port: string]: JsonValue } | null;
  nodes?: { [nodeId: string]: { [port: string]: JsonValue } | null };
}

export type Resolution = { ok: true; value: JsonValue } | { ok: false; reason: string };

function segments(path: string): string[] {
  const parts: string[] = [];
  for (const m of path.matchAll(/([A-Za-z_][A-Za-z0-9_]*)|\[\s*(\d+|"[^"]*"|'[^']*')\s*\]/g)) {
    if (m[1] !== undefined) parts.push(m[1]);
    else if (m[2] !== undefined) parts.push(/^\d+$/.test(m[2]) ? m[2] : m[2].slice(1, -1));
  }
  return parts;
}

export function resolvePath(path: string, scope: ExpressionScope): Resolution {
  const trimmed = path.trim();
  if (!PLAIN_PATH.test(trimmed)) return { ok: false, reason: RUN_TIME };
  const [root, ...rest] = segments(trimmed);
  if (!root || !ROOTS.has(root)) return { ok: false, reason: RUN_TIME };
  let current: JsonValue | undefined = (scope[root as keyof ExpressionScope] ?? undefined) as JsonValue | undefined;
  if (current === undefined || current === null) return { ok: false, reason: RUN_TIME };
  for (const key of rest) {
    if (Array.isArray(current) && /^\d+$/.test(key)) current = current[Number(key)];
    else if (current && typeof current === "object" && !Array.isArray(current)) current = current[key];
    else current = undefined;
    if (current === undefined) return { ok: false, reason: RUN_TIME };
  }
  return { ok: true, value: current ?? null };
}

function asText(value: JsonValue): string {
  if (typeof value === "string") return value;
  if (value === null) return "None";
  if (typeof value === "boolean") return value ? "True" : "False";
  return JSON.stringify(value);
}

/**
 * The preview of a string param: the value when the whole string is one resolvable reference
 * (keeping its JSON type), the text with every reference filled in, or "computed at run time".
 */
export function previewExpression(text: string, scope: ExpressionScope | null): Resolution {
  if (!hasExpression(text)) return { ok: true, value: text };
  if (!scope) return { ok: false, reason: `${RUN_TIME} (no run yet)` };
  const whole = /^\s*\{\{([\s\S]*?)\}\}\s*$/.exec(text);
  if (whole && expressionsIn(text).length === 1) return resolvePath(whole[1] ?? "", scope);
  let failed = false;
  const out = text.replace(EXPRESSION, (_, inner: string) => {
    const r = resolvePath(inner, scope);
    if (!r.ok) failed = true;
    return r.ok ? asText(r.value) : "";
  });
  return failed ? { ok: false, reason: RUN_TIME } : { ok: true, value: out };
}
