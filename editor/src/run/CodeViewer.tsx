// The flow.py the current document compiles to, read-only, or why it does not compile.
import { useEffect, useState } from "react";
import { flowsCompile, type CompilePreview, type Problem } from "../api/generated";
import { ApiError } from "../api/http";
import type { FlowDocument, JsonValue } from "../flow/types";
import "./run.css";

type State =
  | { kind: "loading" }
  | { kind: "compiled"; preview: CompilePreview }
  | { kind: "problems"; message: string; problems: Problem[] };

function problemsOf(error: unknown): Problem[] {
  if (!(error instanceof ApiError)) return [];
  const details = error.details as { problems?: unknown } | null | undefined;
  return Array.isArray(details?.problems) ? (details.problems as Problem[]) : [];
}

function ProblemList({ problems }: { problems: Problem[] }) {
  return (
    <ul className="run-problems">
      {problems.map((p, i) => (
        <li key={i} className={p.severity === "warning" ? "run-warning" : "error"}>
          {p.node_id && <code>{p.node_id}</code>} {p.message} <span className="muted small">({p.code})</span>
        </li>
      ))}
    </ul>
  );
}

export function CodeViewer({
  flowId,
  document,
  onClose,
}: {
  flowId: string;
  document: FlowDocument;
  onClose: () => void;
}) {
  const [state, setState] = useState<State>({ kind: "loading" });

  useEffect(() => {
    let current = true;
    setState({ kind: "loading" });
    // The document on the canvas, saved or not: the code is what Run would run after saving.
    flowsCompile({ flow_id: flowId }, { document: document as unknown as { [key: string]: JsonValue } })
      .then((preview) => current && setState({ kind: "compiled", preview }))
      .catch((error: unknown) => {
        if (!current) return;
        const message = error instanceof Error ? error.message : String(error);
        setState({ kind: "problems", message, problems: problemsOf(error) });
      });
    return () => {
      current = false;
    };
  }, [flowId, document]);

  useEffect(() => {
    function onKey(event: KeyboardEvent) {
      if (event.key === "Escape") onClose();
    }
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [onClose]);

  return (
    <div className="run-overlay" onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div className="run-code card" role="dialog" aria-modal="true" aria-label="Generated flow.py">
        <header className="run-code-head">
          <h2>flow.py</h2>
          {state.kind === "compiled" && (
            <span className="muted small" title={state.preview.bundle_id}>
              bundle <code data-testid="bundle-id">{state.preview.bundle_id.slice(0, 12)}</code>
            </span>
          )}
          <span className="run-spacer" />
          {state.kind === "compiled" && (
            <button type="button" onClick={() => void navigator.clipboard?.writeText(state.preview.flow_py)}>
              Copy
            </button>
          )}
          <button type="button" onClick={onClose} aria-label="Close">
            Close
          </button>
        </header>
        {state.kind === "loading" && <p className="muted">Compiling…</p>}
        {state.kind === "problems" && (
          <div role="alert" className="run-code-problems">
            <p className="error">This flow does not compile: {state.message}</p>
            <ProblemList problems={state.problems} />
          </div>
        )}
        {state.kind === "compiled" && (
          <>
            {state.preview.warnings.length > 0 && <ProblemList problems={state.preview.warnings} />}
            <pre className="run-code-text" aria-label="flow.py source">
              <code>{state.preview.flow_py}</code>
            </pre>
          </>
        )}
      </div>
    </div>
  );
}
