// STUB (owned by the running work): a run's events folded into what the canvas draws.
import type { JsonValue } from "./types";

export type NodeRunStatus =
  | "pending" | "running" | "suspended" | "retrying" | "succeeded" | "failed"
  | "timed_out" | "cancelled" | "skipped" | "abandoned";

export interface NodeRunView {
  status: NodeRunStatus;
  attempts: number;
  inputs: { [port: string]: JsonValue } | null;
  outputs: { [port: string]: JsonValue } | null;
  error: { [key: string]: JsonValue } | null;
  startedAt: number | null;
  finishedAt: number | null;
}

export interface RunView {
  runId: string;
  status: "pending" | "running" | "succeeded" | "failed" | "timed_out" | "cancelled";
  nodes: { [nodeId: string]: NodeRunView };
}
