// The flow document (docs/schemas/flow-v1.schema.json) as the editor holds it. The editor keeps
// documents in this shape end to end; the canvas view is derived from it (see ./canvas.ts).

import type { JsonValue } from "../api/generated";

export type { JsonValue };

export type EdgeKind = "data" | "tool" | "memory" | "model";
export type JoinMode = "all" | "any" | "first";
export type OnError = "stop" | "continue" | "error_port";

export interface Position {
  x: number;
  y: number;
}

export interface RetryPolicy {
  max_attempts?: number;
  backoff?: "fixed" | "exponential";
  delay_s?: number;
  max_delay_s?: number;
  jitter?: number;
  retry_on?: string[];
}

export interface FlowNode {
  id: string;
  type: string;
  version?: number;
  title?: string | null;
  position?: Position;
  params?: { [key: string]: JsonValue };
  retry?: RetryPolicy;
  timeout_s?: number | null;
  on_error?: OnError;
  join?: JoinMode | null;
  meta?: { [key: string]: JsonValue };
}

export interface FlowEdge {
  id: string;
  source: string;
  source_port: string;
  target: string;
  target_port: string;
  kind?: EdgeKind;
}

/** A sticky note: lives in `document.meta.notes`, never reaches the compiled bundle's steps. */
export interface StickyNote {
  id: string;
  text: string;
  position: Position;
  width?: number;
  height?: number;
  color?: string;
}

export interface FlowDocument {
  schema_version: 1;
  name: string;
  description?: string | null;
  max_concurrency?: number;
  meta?: { [key: string]: JsonValue };
  nodes: FlowNode[];
  edges: FlowEdge[];
}
