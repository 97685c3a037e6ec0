// Framework-free helpers of the screens: slug suggestion, times, durations, route URLs and
// turning API errors into sentences and per-field messages.

import { ApiError } from "../api/http";

/** Project slugs are one DNS label part: `[a-z0-9]([a-z0-9-]*[a-z0-9])?`, at most 57 chars. */
export const SLUG_PATTERN = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
const SLUG_MAX = 57;

/** A slug the API will accept, made from a project's name ("Café Orders!" → "cafe-orders"). */
export function suggestSlug(name: string): string {
  const ascii = name.normalize("NFKD").replace(/[\u0300-\u036f]/g, "");
  return ascii
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, SLUG_MAX)
    .replace(/-+$/, "");
}

/** Why a slug would be refused, before asking the server; null when it looks fine. */
export function slugProblem(slug: string): string | null {
  if (!slug) return "Choose a slug: it is part of every published URL.";
  if (slug.length > SLUG_MAX) return `At most ${SLUG_MAX} characters.`;
  if (!SLUG_PATTERN.test(slug)) return "Use lowercase letters, digits and inner dashes (like my-shop).";
  return null;
}

/** Stage names: lowercase letters and digits, no dash (the router splits at the last dash). */
export function stageNameProblem(name: string): string | null {
  if (!name) return "Choose a name, like staging.";
  if (name.length > 20) return "At most 20 characters.";
  if (!/^[a-z0-9]+$/.test(name)) return "Use lowercase letters and digits only, no dash.";
  return null;
}

/** Secret names as expressions read them: `{{ secrets.NAME }}`. */
export function secretNameProblem(name: string): string | null {
  if (!name) return "Choose a name, like STRIPE_KEY.";
  if (name.length > 200) return "At most 200 characters.";
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
    return "Use letters, digits and _, not starting with a digit.";
  }
  return null;
}

/** "4.2 s", "850 ms", "3 min 5 s", "1 h 2 min"; null when it has not started. */
export function formatDuration(startedAt: string | null, finishedAt: string | null, now: number = Date.now()): string | null {
  if (!startedAt) return null;
  const end = finishedAt ? Date.parse(finishedAt) : now;
  const ms = Math.max(0, end - Date.parse(startedAt));
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const totalS = Math.round(s);
  const m = Math.floor(totalS / 60);
  if (m < 60) return `${m} min ${totalS % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** "just now", "5 min ago", "3 h ago", "2 days ago", then the date. */
export function formatAgo(iso: string, now: number = Date.now()): string {
  const s = Math.round((now - Date.parse(iso)) / 1000);
  if (s < 45) return "just now";
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.round(m / 60);
  if (h < 24) return `${h} h ago`;
  const d = Math.round(h / 24);
  if (d < 7) return d === 1 ? "yesterday" : `${d} days ago`;
  return iso.slice(0, 10);
}

/** A full local date and time, for tooltips next to `formatAgo`. */
export function formatWhen(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

/**
 * The path form of a route URL: `http://shop-prod.localhost:8080/a` → `http://localhost:8080/p/shop/prod/a`.
 * The router answers it on any host, so it works behind proxies and without wildcard DNS.
 * Returns null when the URL's host is not the `{slug}-{stage}.` form.
 */
export function pathFormUrl(url: string, slug: string, stage: string): string | null {
  const match = /^(https?:\/\/)([^/]+)(\/.*)?$/.exec(url);
  if (!match) return null;
  const [, scheme, host, path = "/"] = match;
  const prefix = `${slug}-${stage}.`;
  if (!host.startsWith(prefix)) return null;
  return `${scheme}${host.slice(prefix.length)}/p/${slug}/${stage}${path}`;
}

/** A curl command that calls a route (`-X` unless it is a GET); variables stay as `{name}`. */
export function curlCommand(method: string, url: string): string {
  const verb = method.toUpperCase();
  return `curl ${verb === "GET" ? "" : `-X ${verb} `}'${url}'`;
}

/** The variables of a route path, `/hello/{name}/{id:int}` → `["name", "id"]`. */
export function routeVariables(path: string): string[] {
  return [...path.matchAll(/\{([A-Za-z_][A-Za-z0-9_]*)(?::[a-z]+)?\}/g)].map((m) => m[1]!);
}

/** One sentence for people from anything thrown by an API call. */
export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.status === 0) return "The server could not be reached; check that plait serve is running and try again.";
    if (error.status === 403) return `You are not allowed to do this (${error.message}); ask a workspace owner for the editor role.`;
    return error.message;
  }
  return error instanceof Error ? error.message : String(error);
}

/**
 * Per-field messages from an API error: `invalid` lists `{loc, msg}` (the field is the last
 * part of `loc`); `conflict` names one `details.field`. `fallback` gets what names no field.
 */
export function fieldErrors(error: unknown, fields: string[], fallback: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (error instanceof ApiError) {
    const details = error.details as unknown;
    if (error.code === "invalid" && Array.isArray(details)) {
      for (const item of details as Array<{ loc?: unknown[]; msg?: string }>) {
        const field = String(item.loc?.[item.loc.length - 1] ?? "");
        const key = fields.includes(field) ? field : fallback;
        out[key] = out[key] ? `${out[key]} ${item.msg ?? ""}` : (item.msg ?? error.message);
      }
      if (Object.keys(out).length) return out;
    }
    if (error.code === "conflict" && details && typeof details === "object" && "field" in details) {
      const field = String((details as { field: unknown }).field);
      out[fields.includes(field) ? field : fallback] = error.message;
      return out;
    }
  }
  out[fallback] = errorMessage(error);
  return out;
}

export type RunStatus = "queued" | "running" | "succeeded" | "failed" | "timed_out" | "cancelled";
export const RUN_STATUSES: RunStatus[] = ["queued", "running", "succeeded", "failed", "timed_out", "cancelled"];

/** Whether a run may still change, so a list showing it should refresh. */
export function isLive(status: RunStatus): boolean {
  return status === "queued" || status === "running";
}

export function statusLabel(status: RunStatus): string {
  return status === "timed_out" ? "timed out" : status;
}
