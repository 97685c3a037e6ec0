// The run shown on the canvas: started from the toolbar or opened from a URL, followed live
// over the WebSocket and folded by flow/runState.
import { useCallback, useEffect, useRef, useState } from "react";
import { runsCancel, runsEvents, runsRead, runsStart } from "../api/generated";
import { ApiError } from "../api/http";
import { formatRoute } from "../app/routes";
import {
  applyEvents, emptyRun, fromDetail, isRunLive, isTerminalEvent, missingSeqs, withDetailInputs,
  type RunEvent, type RunView,
} from "../flow/runState";
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
  /** Whether the shown run is followed over a live socket right now. */
  live?: boolean;
}

const CLOSE_UNAUTHORIZED = 4401;
const CLOSE_NOT_FOUND = 4404;
// A frame may never come in a background tab; events must still be folded eventually.
const FLUSH_FALLBACK_MS = 250;
const RECONNECT_MAX_MS = 5000;

function message(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  return error instanceof Error ? error.message : String(error);
}

function socketUrl(runId: string, afterSeq: number): string {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const query = afterSeq > 0 ? `?after_seq=${afterSeq}` : "";
  return `${scheme}://${location.host}/api/ws/runs/${encodeURIComponent(runId)}${query}`;
}

function showInUrl(flowId: string, runId: string | null): void {
  const hash = formatRoute(runId ? { name: "flow", flowId, runId } : { name: "flow", flowId });
  // replaceState fires no hashchange: the editor stays mounted, and a reload shows this run.
  if (location.hash !== hash) history.replaceState(history.state, "", hash);
}

export function useRunSession(
  flowId: string,
  runId: string | undefined,
  save: () => Promise<boolean>,
): RunSession {
  const [run, setRun] = useState<RunView | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [live, setLive] = useState(false);

  // Everything the socket callbacks need, outside React state so they never see a stale copy.
  const generation = useRef(0); // bumped whenever the shown run changes: late answers are dropped
  const shownRunId = useRef<string | null>(null);
  const socket = useRef<WebSocket | null>(null);
  const queue = useRef<RunEvent[]>([]);
  const flushHandles = useRef<{ frame: number | null; timer: number | null }>({ frame: null, timer: null });
  const reconnectTimer = useRef<number | null>(null);
  const lastSeq = useRef(0);
  const saveRef = useRef(save);
  saveRef.current = save;

  const flush = useCallback(() => {
    const handles = flushHandles.current;
    if (handles.frame !== null) cancelAnimationFrame(handles.frame);
    if (handles.timer !== null) clearTimeout(handles.timer);
    handles.frame = handles.timer = null;
    const events = queue.current;
    if (events.length === 0) return;
    queue.current = [];
    setRun((view) => (view && view.runId === events[0].run_id ? applyEvents(view, events) : view));
  }, []);

  const scheduleFlush = useCallback(() => {
    const handles = flushHandles.current;
    if (handles.frame === null) handles.frame = requestAnimationFrame(flush);
    if (handles.timer === null) handles.timer = window.setTimeout(flush, FLUSH_FALLBACK_MS);
  }, [flush]);

  const stopFollowing = useCallback(() => {
    if (reconnectTimer.current !== null) clearTimeout(reconnectTimer.current);
    reconnectTimer.current = null;
    const current = socket.current;
    socket.current = null;
    if (current) {
      current.onmessage = current.onclose = current.onerror = null;
      current.close();
    }
    flush();
    setLive(false);
  }, [flush]);

  /** After the end: inputs are not in the events, the RunDetail has them; and a gap the
   * socket left (it should not) is filled from the events endpoint. */
  const settle = useCallback(async (id: string, gen: number) => {
    try {
      const detail = await runsRead({ run_id: id });
      if (gen !== generation.current) return;
      setRun((view) => (view && view.runId === id ? withDetailInputs(view, detail) : view));
    } catch {
      // The statuses are already right; only the inputs are missing.
    }
  }, []);

  const follow = useCallback(
    (id: string, afterSeq: number) => {
      const gen = generation.current;
      let attempt = 0;
      lastSeq.current = afterSeq;
      const connect = () => {
        const ws = new WebSocket(socketUrl(id, lastSeq.current));
        socket.current = ws;
        let ended = false;
        ws.onopen = () => {
          attempt = 0;
          setLive(true);
        };
        ws.onmessage = (message) => {
          let event: RunEvent;
          try {
            event = JSON.parse(String(message.data)) as RunEvent;
          } catch {
            return;
          }
          if (event.seq > lastSeq.current) lastSeq.current = event.seq;
          queue.current.push(event);
          if (isTerminalEvent(event.type)) {
            ended = true;
            flush();
            void settle(id, gen);
          } else {
            scheduleFlush();
          }
        };
        ws.onclose = (close) => {
          if (socket.current !== ws || gen !== generation.current) return;
          socket.current = null;
          setLive(false);
          flush();
          if (ended) return;
          if (close.code === CLOSE_UNAUTHORIZED) {
            setError("Your session has ended: log in again to follow this run.");
            return;
          }
          if (close.code === CLOSE_NOT_FOUND) {
            setError("This run was not found in your workspace.");
            return;
          }
          // Dropped before the end: come back for what came after the last event seen.
          const delay = Math.min(RECONNECT_MAX_MS, 250 * 2 ** attempt);
          attempt += 1;
          reconnectTimer.current = window.setTimeout(() => {
            reconnectTimer.current = null;
            if (gen === generation.current) connect();
          }, delay);
        };
      };
      connect();
    },
    [flush, scheduleFlush, settle],
  );

  const show = useCallback(
    (id: string | null) => {
      generation.current += 1;
      stopFollowing();
      queue.current = [];
      shownRunId.current = id;
      setError(null);
      return generation.current;
    },
    [stopFollowing],
  );

  const open = useCallback(
    (id: string | null) => {
      if (id !== null && id === shownRunId.current) return;
      const gen = show(id);
      showInUrl(flowId, id);
      if (id === null) {
        setRun(null);
        return;
      }
      setRun(emptyRun(id));
      setBusy(true);
      void (async () => {
        try {
          const detail = await runsRead({ run_id: id });
          if (gen !== generation.current) return;
          if (detail.flow_id !== flowId) {
            setRun(null);
            setError("This run belongs to another flow.");
            return;
          }
          let view = fromDetail(detail);
          if (isRunLive(view.status)) {
            setRun(view);
            follow(id, 0); // the whole backlog, folded over the detail
            return;
          }
          // A finished run: its detail says it all, its events add logs and pinned marks.
          const page = await runsEvents({ run_id: id, limit: 1000 });
          if (gen !== generation.current) return;
          view = withDetailInputs(applyEvents(view, page.items), detail);
          setRun(view);
        } catch (err) {
          if (gen !== generation.current) return;
          setRun(null);
          setError(err instanceof ApiError && err.status === 404 ? "This run was not found." : message(err));
        } finally {
          if (gen === generation.current) setBusy(false);
        }
      })();
    },
    [flowId, follow, show],
  );

  const start = useCallback(
    async (options: StartOptions) => {
      setBusy(true);
      setError(null);
      const gen = generation.current;
      try {
        const saved = await saveRef.current();
        if (!saved) {
          setError("The flow could not be saved, so it was not run. Fix what stops saving and try again.");
          return;
        }
        const created = await runsStart(
          { flow_id: flowId },
          {
            input: options.input,
            ...(options.fromNode ? { from_node: options.fromNode } : {}),
            ...(options.pinned ? { pinned: options.pinned } : {}),
          },
        );
        if (gen !== generation.current) return; // another run was opened meanwhile
        show(created.id);
        showInUrl(flowId, created.id);
        setRun(emptyRun(created.id, options.input));
        follow(created.id, 0);
      } catch (err) {
        setError(`The run did not start: ${message(err)}`);
      } finally {
        setBusy(false);
      }
    },
    [flowId, follow, show],
  );

  const cancel = useCallback(async () => {
    const id = shownRunId.current;
    if (id === null) return;
    setBusy(true);
    try {
      await runsCancel({ run_id: id });
      // The socket brings run.cancelled; no state to set here.
    } catch (err) {
      setError(`The run could not be cancelled: ${message(err)}`);
    } finally {
      setBusy(false);
    }
  }, []);

  // The URL names the run to show (a reload, a link from the run history).
  const previousRunId = useRef<string | undefined>(undefined);
  useEffect(() => {
    const before = previousRunId.current;
    previousRunId.current = runId;
    if (runId !== undefined) open(runId);
    else if (before !== undefined) open(null); // navigated from a run's URL to the bare flow
  }, [runId, open]);

  // A late gap (a message lost between reconnects) is read back from the events endpoint.
  const gapKey = run && !isRunLive(run.status) ? missingSeqs(run).join(",") : "";
  useEffect(() => {
    if (!gapKey || !run) return;
    const id = run.runId;
    const gen = generation.current;
    const afterSeq = Number(gapKey.split(",")[0]) - 1;
    void runsEvents({ run_id: id, after_seq: afterSeq, limit: 1000 })
      .then((page) => {
        if (gen === generation.current) setRun((view) => (view && view.runId === id ? applyEvents(view, page.items) : view));
      })
      .catch(() => undefined);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [gapKey]);

  useEffect(
    () => () => {
      generation.current += 1;
      shownRunId.current = null; // a remount (StrictMode) must open the run again
      stopFollowing();
    },
    [stopFollowing],
  );

  return { run, busy, error, start, open, cancel, live };
}
