import { useEffect, useRef, type ReactNode } from "react";

/** A modal dialog: focus moves in, Escape closes. */
export function Dialog({ title, onClose, children, testId }: { title: string; onClose: () => void; children: ReactNode; testId?: string }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    ref.current?.querySelector<HTMLElement>("button, [href], input, textarea")?.focus();
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") {
        e.stopPropagation();
        onClose();
      }
    };
    window.addEventListener("keydown", onKey, true);
    return () => window.removeEventListener("keydown", onKey, true);
  }, [onClose]);
  return (
    <div className="plait-modal-backdrop" onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div className="plait-modal card" role="dialog" aria-modal="true" aria-label={title} ref={ref} data-testid={testId}>
        <h3>{title}</h3>
        {children}
      </div>
    </div>
  );
}

export const SHORTCUTS: Array<[string, string]> = [
  ["Ctrl/⌘ Z", "Undo"],
  ["Ctrl/⌘ Shift Z, Ctrl Y", "Redo"],
  ["Ctrl/⌘ C / V", "Copy / paste nodes (as flow JSON)"],
  ["Ctrl/⌘ D", "Duplicate the selection"],
  ["Delete, Backspace", "Delete the selection"],
  ["Ctrl/⌘ A", "Select everything"],
  ["Shift click", "Add to the selection"],
  ["Shift drag", "Box select"],
  ["Shift 1", "Fit the view"],
  ["M", "Show or hide the mini map (hidden at first above 300 nodes)"],
  ["?", "This help"],
  ["Escape", "Clear the selection, close dialogs"],
];

export function ShortcutsHelp({ onClose }: { onClose: () => void }) {
  return (
    <Dialog title="Keyboard shortcuts" onClose={onClose} testId="shortcuts-help">
      <table className="plait-shortcuts">
        <tbody>
          {SHORTCUTS.map(([keys, what]) => (
            <tr key={keys}><td><kbd>{keys}</kbd></td><td>{what}</td></tr>
          ))}
        </tbody>
      </table>
      <p className="muted small">Shortcuts do nothing while you type in a field.</p>
      <div className="plait-modal-actions"><button onClick={onClose}>Close</button></div>
    </Dialog>
  );
}

export function ConflictDialog(props: {
  serverRevision: number | null;
  onReload: () => void;
  onKeepMine: () => void;
  onCopyMine: () => void;
  /** "ok" once on the clipboard; "manual" with the JSON to copy by hand when the browser refused. */
  copied: "ok" | "manual" | null;
  mine: string;
  busy: boolean;
}) {
  return (
    <Dialog title="This flow was changed elsewhere" onClose={() => undefined} testId="conflict-dialog">
      <p>
        Someone (or another tab) saved this flow{props.serverRevision ? ` — it is now at revision ${props.serverRevision}` : ""} after
        you opened it. Your latest edits are not saved. Choose which version to keep:
      </p>
      <ul className="small">
        <li><strong>Reload theirs</strong>: drop your unsaved edits and load the saved flow.</li>
        <li><strong>Keep mine</strong>: save your version over theirs.</li>
        <li><strong>Copy mine as JSON</strong>: put your version on the clipboard, to merge by hand.</li>
      </ul>
      <div className="plait-modal-actions">
        <button onClick={props.onReload} disabled={props.busy}>Reload theirs</button>
        <button className="primary" onClick={props.onKeepMine} disabled={props.busy}>Keep mine</button>
        <button onClick={props.onCopyMine}>{props.copied === "ok" ? "Copied" : "Copy mine as JSON"}</button>
      </div>
      {props.copied === "manual" && (
        <label>
          The browser did not allow the clipboard; copy your version from here:
          <textarea className="code" readOnly rows={8} value={props.mine} onFocus={(e) => e.currentTarget.select()} data-testid="conflict-mine" />
        </label>
      )}
    </Dialog>
  );
}
