// STUB (owned by the running work): the run shown on the canvas, live over the WebSocket.
import type { RunView } from "../flow/runState";
import type { JsonValue } from "../flow/types";

export interface StartOptions {
  input: JsonValue;
  fromNode?: string;
  pinned?: { [nodeId: string]: { [port: string]: JsonValue } };
}

export interface RunSession {
  run: RunView | null;
  busy: boolean;
  error: string | null;
  start(options: StartOptions): Promise<void>;
  open(runId: string | null): void;
  cancel(): Promise<void>;
}

export function useRunSession(
  _flowId: string,
  _runId: string | undefined,
  _save: () => Promise<boolean>,
): RunSession {
  return {
    run: null,
    busy: false,
    error: null,
    start: async () => undefined,
    open: () => undefined,
    cancel: async () => undefined,
  };
}
