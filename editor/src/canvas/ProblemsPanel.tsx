import { memo, useState } from "react";
import { useEditorContext, useEditorState } from "./context";

/** Every validation problem; document-level ones first. Clicking a node problem shows the node. */
export const ProblemsPanel = memo(function ProblemsPanel({ onFocus }: { onFocus: (nodeId: string) => void }) {
  const { store } = useEditorContext();
  const problems = useEditorState(store, (s) => s.problems);
  const [open, setOpen] = useState(true);
  const ordered = [...problems.document, ...problems.all.filter((p) => p.node_id || p.edge_id)];
  return (
    <section className={`plait-problems${ordered.length ? "" : " empty"}`} aria-label="Problems" data-testid="problems">
      <button className="plait-problems-toggle" onClick={() => setOpen(!open)} aria-expanded={open}>
        {ordered.length ? `${problems.errors} error${problems.errors === 1 ? "" : "s"}, ${problems.warnings} warning${problems.warnings === 1 ? "" : "s"}` : "No problems"}
      </button>
      {open && ordered.length > 0 && (
        <ul>
          {ordered.map((p, i) => (
            <li key={i} className={p.severity === "warning" ? "warning" : "error"}>
              {p.node_id ? (
                <button className="link-button" onClick={() => onFocus(p.node_id!)}>{p.node_id}</button>
              ) : p.edge_id ? <code>{p.edge_id}</code> : <span className="muted">flow</span>}{" "}
              {p.message}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
});
