// Small building blocks shared by the screens: modal dialogs, confirmation, copy buttons,
// inline rename, empty states and error banners.

import { useEffect, useRef, useState, type FormEvent, type ReactNode } from "react";
import { errorMessage, formatAgo, formatWhen } from "./format";

/** A modal on the native <dialog>: focus stays inside, Escape closes it. */
export function Modal({ title, onClose, children, wide, testId }: {
  title: string;
  onClose: () => void;
  children: ReactNode;
  wide?: boolean;
  testId?: string;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
    return () => dialog?.close();
  }, []);
  return (
    <dialog
      ref={ref}
      className={`scr-modal${wide ? " wide" : ""}`}
      aria-labelledby="scr-modal-title"
      data-testid={testId}
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
    >
      <header className="scr-modal-head">
        <h2 id="scr-modal-title">{title}</h2>
        <button type="button" className="scr-icon" aria-label="Close" onClick={onClose}>×</button>
      </header>
      {children}
    </dialog>
  );
}

/** Asks before something is destroyed, naming it; runs `onConfirm` and shows its error. */
export function ConfirmDialog({ title, children, confirmLabel = "Delete", onConfirm, onClose }: {
  title: string;
  children: ReactNode;
  confirmLabel?: string;
  onConfirm: () => Promise<void>;
  onClose: () => void;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  async function confirm(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await onConfirm();
      onClose();
    } catch (e) {
      setError(errorMessage(e));
      setBusy(false);
    }
  }
  return (
    <Modal title={title} onClose={onClose} testId="confirm-dialog">
      <form onSubmit={confirm} className="scr-form">
        <div className="scr-confirm-text">{children}</div>
        {error && <p className="error" role="alert">{error}</p>}
        <div className="scr-actions">
          <button type="button" onClick={onClose} autoFocus>Cancel</button>
          <button type="submit" className="danger-solid" disabled={busy}>
            {busy ? "Working…" : confirmLabel}
          </button>
        </div>
      </form>
    </Modal>
  );
}

/** Copies text with the Clipboard API, falling back to a hidden textarea on plain HTTP. */
export async function copyText(text: string): Promise<boolean> {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // Permission refused or no focus: the textarea fallback below still works.
  }
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.opacity = "0";
  document.body.appendChild(area);
  area.select();
  let ok = false;
  try {
    ok = document.execCommand("copy");
  } catch {
    ok = false;
  }
  area.remove();
  return ok;
}

export function CopyButton({ text, label = "Copy" }: { text: string; label?: string }) {
  const [state, setState] = useState<"idle" | "copied" | "failed">("idle");
  useEffect(() => {
    if (state === "idle") return;
    const timer = window.setTimeout(() => setState("idle"), 2000);
    return () => window.clearTimeout(timer);
  }, [state]);
  return (
    <button
      type="button"
      className="scr-copy"
      aria-label={`${label} ${text}`}
      onClick={async () => setState((await copyText(text)) ? "copied" : "failed")}
    >
      {state === "copied" ? "Copied" : state === "failed" ? "Select and copy" : label}
    </button>
  );
}

/** A URL shown in full, selectable, with its copy button. */
export function UrlLine({ url, testId }: { url: string; testId?: string }) {
  return (
    <span className="scr-url">
      <code data-testid={testId}>{url}</code>
      <CopyButton text={url} />
    </span>
  );
}

/** A name that turns into a text field; Enter saves, Escape cancels. */
export function InlineRename({ value, label, onSave, onDone }: {
  value: string;
  label: string;
  onSave: (name: string) => Promise<void>;
  onDone: () => void;
}) {
  const [name, setName] = useState(value);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  async function save(event?: FormEvent) {
    event?.preventDefault();
    const trimmed = name.trim();
    if (!trimmed || trimmed === value) return onDone();
    setBusy(true);
    try {
      await onSave(trimmed);
      onDone();
    } catch (e) {
      setError(errorMessage(e));
      setBusy(false);
    }
  }
  return (
    <form className="scr-rename" onSubmit={save}>
      <input
        aria-label={label}
        value={name}
        autoFocus
        disabled={busy}
        onFocus={(e) => e.currentTarget.select()}
        onChange={(e) => setName(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === "Escape") {
            e.preventDefault();
            e.stopPropagation();
            onDone();
          }
        }}
      />
      <button type="submit" className="primary" disabled={busy}>Save</button>
      <button type="button" onClick={onDone}>Cancel</button>
      {error && <span className="error small" role="alert">{error}</span>}
    </form>
  );
}

export function EmptyState({ title, children, testId }: { title: string; children?: ReactNode; testId?: string }) {
  return (
    <div className="scr-empty" data-testid={testId}>
      <h3>{title}</h3>
      {children}
    </div>
  );
}

export function ErrorBanner({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  return (
    <div className="scr-error" role="alert">
      <span>{errorMessage(error)}</span>
      {onRetry && <button type="button" onClick={onRetry}>Try again</button>}
    </div>
  );
}

export function Ago({ iso }: { iso: string }) {
  return <time dateTime={iso} title={formatWhen(iso)}>{formatAgo(iso)}</time>;
}

/** A text field with its label, hint and error wired for screen readers. */
export function Field({ id, label, hint, error, children }: {
  id: string;
  label: string;
  hint?: ReactNode;
  error?: string | null;
  children: ReactNode;
}) {
  return (
    <div className="scr-field">
      <label htmlFor={id}>{label}</label>
      {children}
      {hint && !error && <span className="muted small" id={`${id}-hint`}>{hint}</span>}
      {error && <span className="error small" id={`${id}-error`} role="alert">{error}</span>}
    </div>
  );
}
