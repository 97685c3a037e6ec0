// Run the flow, follow the shown run, run again from a node, read the generated code.
import { useEffect, useMemo, useRef, useState } from "react";
import { planRunFrom } from "../flow/runFrom";
import { durationMs, formatDuration, isRunLive } from "../flow/runState";
import type { FlowDocument, JsonValue } from "../flow/types";
import { CodeViewer } from "./CodeViewer";
import type { RunSession } from "./useRunSession";
import "./run.css";

export interface RunToolbarProps {
  session: RunSession;
  flowId: string;
  document: FlowDocument;
  selectedNodeId: string | null;
}

const RUN_LABEL: { [status: string]: string } = {
  pending: "Queued",
  running: "Running",
  succeeded: "Succeeded",
  failed: "Failed",
  timed_out: "Timed out",
  cancelled: "Cancelled",
};

const DEFAULT_INPUT = "{}";

export function inputKey(flowId: string): string {
  return `plait.run-input.${flowId}`;
}

function readInput(flowId: string): string {
  try {
    return localStorage.getItem(inputKey(flowId)) ?? DEFAULT_INPUT;
  } catch {
    return DEFAULT_INPUT; // storage can be off (private windows); the default still runs
  }
}

function parseInput(text: string): { ok: true; value: JsonValue } | { ok: false; message: string } {
  if (text.trim() === "") return { ok: true, value: null };
  try {
    return { ok: true, value: JSON.parse(text) as JsonValue };
  } catch (error) {
    return { ok: false, message: error instanceof Error ? error.message : String(error) };
  }
}

export function RunToolbar({ session, flowId, document, selectedNodeId }: RunToolbarProps) {
  const { run } = session;
  const [inputText, setInputText] = useState(() => readInput(flowId));
  const [inputOpen, setInputOpen] = useState(false);
  const [codeOpen, setCodeOpen] = useState(false);
  const [now, setNow] = useState(() => Date.now());
  const parsed = useMemo(() => parseInput(inputText), [inputText]);
  const live = run !== null && isRunLive(run.status);
  const plan = useMemo(
    () => (selectedNodeId && run && !live ? planRunFrom(document, run, selectedNodeId) : null),
    [document, run, live, selectedNodeId],
  );

  useEffect(() => setInputText(readInput(flowId)), [flowId]);

  const inputBox = useRef<HTMLDivElement | null>(null);
  useEffect(() => {
    if (!inputOpen) return;
    function onDown(event: MouseEvent) {
      if (inputBox.current && !inputBox.current.contains(event.target as Node)) setInputOpen(false);
    }
    window.document.addEventListener("mousedown", onDown);
    return () => window.document.removeEventListener("mousedown", onDown);
  }, [inputOpen]);

  useEffect(() => {
    if (!live) return;
    const timer = window.setInterval(() => setNow(Date.now()), 200);
    return () => clearInterval(timer);
  }, [live]);

  function changeInput(text: string) {
    setInputText(text);
    try {
      localStorage.setItem(inputKey(flowId), text);
    } catch {
      // Not remembered; the run still uses it.
    }
  }

  function runFlow() {
    if (session.busy || live) return;
    if (!parsed.ok) {
      setInputOpen(true); // show what is wrong where it can be fixed
      return;
    }
    setInputOpen(false);
    void session.start({ input: parsed.value });
  }

  function runFromHere() {
    if (!plan?.ok || session.busy) return;
    // The trigger is pinned too, so the input only documents the run: keep the shown run's.
    void session.start({ input: run?.input ?? null, fromNode: plan.fromNode, pinned: plan.pinned });
  }

  const runRef = useRef(runFlow);
  runRef.current = runFlow;
  useEffect(() => {
    function onKey(event: KeyboardEvent) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && !event.repeat) {
        event.preventDefault();
        runRef.current();
      }
    }
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);

  const elapsed = run ? durationMs(run.startedAt, run.finishedAt, live ? Math.max(now, run.startedAt ?? 0) : now) : null;

  return (
    <div className="run-toolbar" role="toolbar" aria-label="Run">
      <button
        type="button"
        className="primary"
        onClick={runFlow}
        disabled={session.busy || live}
        title="Run the flow (Ctrl+Enter)"
        aria-keyshortcuts="Control+Enter Meta+Enter"
      >
        {session.busy && !live ? "Starting…" : "Run"}
      </button>
      <div className="run-input" ref={inputBox}>
        <button
          type="button"
          aria-expanded={inputOpen}
          aria-haspopup="dialog"
          onClick={() => setInputOpen((open) => !open)}
          className={parsed.ok ? "" : "run-invalid"}
          title="The input the trigger gets"
        >
          Input
        </button>
        {inputOpen && (
          <div className="run-popover" role="dialog" aria-label="Run input">
            <label>
              Run input (JSON)
              <textarea
                className="code"
                rows={8}
                spellCheck={false}
                value={inputText}
                onChange={(e) => changeInput(e.target.value)}
                onKeyDown={(e) => {
                  if (e.key === "Escape") setInputOpen(false);
                }}
                aria-invalid={!parsed.ok}
                autoFocus
              />
            </label>
            {parsed.ok ? (
              <p className="muted small">Remembered for this flow. Ctrl+Enter runs.</p>
            ) : (
              <p className="error small" role="alert">Not valid JSON: {parsed.message}</p>
            )}
          </div>
        )}
      </div>
      {plan?.ok && (
        <button
          type="button"
          onClick={runFromHere}
          disabled={session.busy}
          title="Run this node and what follows it, with the nodes before it pinned to their outputs in the shown run"
        >
          Run from here
        </button>
      )}
      {run && (
        <span className={`run-status run-status-${run.status}`} data-run-status={run.status} aria-live="polite">
          <span className="run-dot" />
          {RUN_LABEL[run.status] ?? run.status}
          <span className="run-elapsed">{formatDuration(elapsed)}</span>
        </span>
      )}
      {live && (
        <button type="button" className="danger" onClick={() => void session.cancel()} disabled={session.busy}>
          Cancel
        </button>
      )}
      <span className="run-spacer" />
      {session.error && (
        <span className="error small run-toolbar-error" role="alert">
          {session.error}
        </span>
      )}
      <button type="button" onClick={() => setCodeOpen(true)} title="The generated flow.py">
        Code
      </button>
      {codeOpen && <CodeViewer flowId={flowId} document={document} onClose={() => setCodeOpen(false)} />}
    </div>
  );
}
