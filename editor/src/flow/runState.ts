// A run's events folded into what the canvas draws. Framework-free and pure: the session hook
// feeds it events as they arrive over the WebSocket, the tests feed it lists.
//
// The fold mirrors the engine's `RunState.apply` (node_runner/state.py) but is lenient: the
// editor must draw whatever it is given (a socket may replay a backlog, reconnect, or deliver
// late), so it never refuses a transition. Events are kept sorted and unique by `seq`; an
// event that lands before the last applied one makes the view re-fold from its base.
import type { JsonValue } from "./types";

export type NodeRunStatus =
  | "pending" | "running" | "suspended" | "retrying" | "succeeded" | "failed"
  | "timed_out" | "cancelled" | "skipped" | "abandoned";

export type RunStatus = "pending" | "running" | "succeeded" | "failed" | "timed_out" | "cancelled";

export type JsonObject = { [key: string]: JsonValue };

export interface NodeRunView {
  status: NodeRunStatus;
  attempts: number;
  inputs: { [port: string]: JsonValue } | null;
  outputs: { [port: string]: JsonValue } | null;
  error: { [key: string]: JsonValue } | null;
  /** Epoch milliseconds. */
  startedAt: number | null;
  finishedAt: number | null;
  /** Why it was skipped, abandoned or cancelled (the engine's words). */
  reason?: string | null;
  /** Its outputs were pinned (seeded), not computed in this run. */
  seeded?: boolean;
  /** While retrying: seconds until the next attempt. */
  retryDelayS?: number | null;
  /** While suspended: what it waits for (an ISO time or a signal name). */
  waitingFor?: string | null;
  /** How a failure was handled: stop | continue | error_port. */
  routed?: string | null;
  logs?: string[];
}

export interface RunEvent {
  run_id?: string;
  seq: number;
  type: string;
  node_id?: string | null;
  data?: { [key: string]: JsonValue };
  ts: number;
}

export interface RunView {
  runId: string;
  status: RunStatus;
  nodes: { [nodeId: string]: NodeRunView };
  /** The highest seq folded in. */
  seq: number;
  /** Epoch milliseconds. */
  startedAt: number | null;
  finishedAt: number | null;
  error: JsonObject | null;
  input: JsonValue;
  bundleId: string | null;
  /** Every event folded in, sorted by seq, unique. */
  events: RunEvent[];
  /** The state the events are folded over: a RunDetail read before the events, or nothing. */
  base: { status: RunStatus; nodes: { [nodeId: string]: NodeRunView } };
}

/** The subset of the API's RunDetail this module reads (kept structural: no API import). */
export interface RunDetailLike {
  id: string;
  status: string;
  input: JsonValue;
  error: JsonObject | null;
  started_at: string | null;
  finished_at: string | null;
  nodes: {
    [nodeId: string]: {
      status: string;
      attempts: number;
      inputs: JsonObject | null;
      outputs: JsonObject | null;
      error: JsonObject | null;
      started_at: string | null;
      finished_at: string | null;
    };
  };
}

const NODE_STATUSES: readonly NodeRunStatus[] = [
  "pending", "running", "suspended", "retrying", "succeeded", "failed",
  "timed_out", "cancelled", "skipped", "abandoned",
];
export const RUN_LIVE: readonly RunStatus[] = ["pending", "running"];
export const RUN_TERMINAL_EVENTS: readonly string[] = [
  "run.succeeded", "run.failed", "run.timed_out", "run.cancelled",
];

export function isRunLive(status: RunStatus): boolean {
  return RUN_LIVE.includes(status);
}

export function isTerminalEvent(type: string): boolean {
  return RUN_TERMINAL_EVENTS.includes(type);
}

export function emptyNode(): NodeRunView {
  return {
    status: "pending", attempts: 0, inputs: null, outputs: null, error: null,
    startedAt: null, finishedAt: null,
  };
}

export function emptyRun(runId: string, input: JsonValue = null): RunView {
  return {
    runId, status: "pending", nodes: {}, seq: 0, startedAt: null, finishedAt: null,
    error: null, input, bundleId: null, events: [], base: { status: "pending", nodes: {} },
  };
}

function parseTime(iso: string | null): number | null {
  if (!iso) return null;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? null : ms;
}

function runStatusOf(status: string): RunStatus {
  // The API says "queued" for a run the dispatcher has not picked up yet.
  if (status === "queued") return "pending";
  const known: readonly string[] = ["pending", "running", "succeeded", "failed", "timed_out", "cancelled"];
  return known.includes(status) ? (status as RunStatus) : "pending";
}

function nodeStatusOf(status: string): NodeRunStatus {
  return (NODE_STATUSES as readonly string[]).includes(status) ? (status as NodeRunStatus) : "pending";
}

/** A past (or still running) run as `GET /api/runs/{id}` describes it. */
export function fromDetail(detail: RunDetailLike): RunView {
  const nodes: { [id: string]: NodeRunView } = {};
  for (const [id, state] of Object.entries(detail.nodes)) {
    nodes[id] = {
      status: nodeStatusOf(state.status),
      attempts: state.attempts,
      inputs: state.inputs,
      outputs: state.outputs,
      error: state.error,
      startedAt: parseTime(state.started_at),
      finishedAt: parseTime(state.finished_at),
    };
  }
  const status = runStatusOf(detail.status);
  return {
    ...emptyRun(detail.id, detail.input),
    status,
    nodes,
    startedAt: parseTime(detail.started_at),
    finishedAt: parseTime(detail.finished_at),
    error: detail.error,
    base: { status, nodes },
  };
}

/** Inputs are not in the events (the API rebuilds them from the plan's edges): take them from
 * a RunDetail read after the events, for the nodes it knows. */
export function withDetailInputs(view: RunView, detail: RunDetailLike): RunView {
  if (detail.id !== view.runId) return view;
  const nodes = { ...view.nodes };
  for (const [id, state] of Object.entries(detail.nodes)) {
    const node = nodes[id];
    if (node && state.inputs !== null) nodes[id] = { ...node, inputs: state.inputs };
  }
  return { ...view, nodes };
}

function str(value: JsonValue | undefined): string | null {
  return typeof value === "string" ? value : null;
}

function num(value: JsonValue | undefined): number | null {
  return typeof value === "number" ? value : null;
}

function obj(value: JsonValue | undefined): JsonObject | null {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? value : null;
}

const NODE_END: { [type: string]: NodeRunStatus } = {
  "node.succeeded": "succeeded",
  "node.seeded": "succeeded",
  "node.failed": "failed",
  "node.timed_out": "timed_out",
  "node.cancelled": "cancelled",
  "node.skipped": "skipped",
  "node.abandoned": "abandoned",
};

const RUN_END: { [type: string]: RunStatus } = {
  "run.succeeded": "succeeded",
  "run.failed": "failed",
  "run.timed_out": "timed_out",
  "run.cancelled": "cancelled",
};

/** One event applied to a view whose events are already in (mutates the draft copy). */
function applyOne(view: RunView, event: RunEvent): void {
  const data = event.data ?? {};
  const ms = event.ts * 1000;
  const type = event.type;
  if (type === "run.started") {
    view.status = "running";
    view.startedAt = ms;
    if ("payload" in data) view.input = data.payload ?? null;
    view.bundleId = str(data.bundle_id) ?? view.bundleId;
    const ids = Array.isArray(data.nodes) ? data.nodes : [];
    for (const id of ids) {
      if (typeof id === "string" && !view.nodes[id]) view.nodes[id] = emptyNode();
    }
    return;
  }
  if (type in RUN_END) {
    view.status = RUN_END[type];
    view.finishedAt = ms;
    view.error = obj(data.error);
    return;
  }
  const nodeId = event.node_id;
  if (!nodeId) return;
  const node: NodeRunView = { ...(view.nodes[nodeId] ?? emptyNode()) };
  view.nodes[nodeId] = node;
  switch (type) {
    case "node.started":
      node.status = "running";
      node.attempts = num(data.attempt) ?? node.attempts + 1;
      node.startedAt ??= ms;
      node.finishedAt = null;
      node.retryDelayS = null;
      node.waitingFor = null;
      return;
    case "node.retrying":
      // Retrying is not an engine state but the canvas shows it: the attempt that failed
      // and the error it failed with, until the next node.started.
      node.status = "retrying";
      node.attempts = num(data.attempt) ?? node.attempts;
      node.error = obj(data.error);
      node.retryDelayS = num(data.delay_s);
      return;
    case "node.suspended":
      node.status = "suspended";
      node.waitingFor = str(data.until) ?? str(data.signal);
      return;
    case "node.resumed":
      node.status = "running";
      node.waitingFor = null;
      return;
    case "node.log": {
      const message = str(data.message);
      if (message !== null) node.logs = [...(node.logs ?? []), message];
      return;
    }
  }
  const end = NODE_END[type];
  if (end === undefined) return; // step.* and future events: no state change
  node.status = end;
  node.finishedAt = ms;
  node.retryDelayS = null;
  node.waitingFor = null;
  if (type === "node.succeeded" || type === "node.seeded") {
    node.outputs = obj(data.outputs) ?? {};
    node.error = null;
    node.seeded = type === "node.seeded";
    if (node.seeded) node.startedAt ??= ms;
  } else if (type === "node.failed" || type === "node.timed_out") {
    node.error = obj(data.error);
    node.attempts = num(data.attempt) ?? node.attempts;
    node.routed = str(data.routed) ?? "stop";
    // A routed error is the node's only output, on its `error` port (as in the engine).
    node.outputs = node.routed === "error_port" && node.error ? { error: node.error } : {};
  } else {
    node.reason = str(data.reason);
  }
}

function foldFrom(base: RunView["base"], view: RunView, events: RunEvent[]): RunView {
  const next: RunView = {
    ...view,
    status: base.status,
    nodes: { ...base.nodes },
    seq: 0,
    events,
  };
  for (const event of events) {
    applyOne(next, event);
    next.seq = event.seq;
  }
  return next;
}

/** Fold events into a view. Duplicates (by seq) are dropped; events may come in any order. */
export function applyEvents(view: RunView, incoming: readonly RunEvent[]): RunView {
  const known = new Set(view.events.map((e) => e.seq));
  const fresh = incoming
    .filter((e) => (e.run_id === undefined || e.run_id === view.runId) && !known.has(e.seq))
    .sort((a, b) => a.seq - b.seq);
  const unique = fresh.filter((e, i) => i === 0 || fresh[i - 1].seq !== e.seq);
  if (unique.length === 0) return view;
  if (unique[0].seq > view.seq) {
    // In order after what is applied: fold only the new ones.
    const next: RunView = { ...view, nodes: { ...view.nodes }, events: [...view.events, ...unique] };
    for (const event of unique) {
      applyOne(next, event);
      next.seq = event.seq;
    }
    return next;
  }
  // A late event fills a gap before what is applied: fold everything again, in order.
  const events = [...view.events, ...unique].sort((a, b) => a.seq - b.seq);
  return foldFrom(view.base, view, events);
}

/** Seqs missing between 1 and the last one folded in (lost in transport, to fetch again). */
export function missingSeqs(view: RunView): number[] {
  const have = new Set(view.events.map((e) => e.seq));
  const missing: number[] = [];
  for (let seq = 1; seq <= view.seq; seq++) if (!have.has(seq)) missing.push(seq);
  return missing;
}

/** How long a node or run took, or has been going (`now` for one still at work). */
export function durationMs(startedAt: number | null, finishedAt: number | null, now: number): number | null {
  if (startedAt === null) return null;
  return Math.max(0, (finishedAt ?? now) - startedAt);
}

export function formatDuration(ms: number | null): string {
  if (ms === null) return "–";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.round((ms % 60_000) / 1000);
  return `${minutes} min ${seconds} s`;
}
