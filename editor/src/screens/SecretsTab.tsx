import { useCallback, useEffect, useState, type FormEvent } from "react";
import {
  secretsCreate,
  secretsDelete,
  secretsList,
  secretsUpdate,
  type ProjectPublic,
  type SecretPublic,
} from "../api/generated";
import { fieldErrors, secretNameProblem } from "./format";
import { Ago, ConfirmDialog, EmptyState, ErrorBanner, Field, Modal } from "./ui";

/**
 * A project's secrets by name. Values are write-only: they live in component state only while
 * typed, are cleared on submit, and nothing read from the API ever holds one.
 */
export function SecretsTab({ project }: { project: ProjectPublic }) {
  const [secrets, setSecrets] = useState<SecretPublic[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [adding, setAdding] = useState(false);
  const [replacing, setReplacing] = useState<SecretPublic | null>(null);
  const [deleting, setDeleting] = useState<SecretPublic | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  const load = useCallback(async () => {
    try {
      setSecrets(await secretsList({ project_id: project.id }));
      setError(null);
    } catch (e) {
      setError(e);
    }
  }, [project.id]);
  useEffect(() => void load(), [load]);

  return (
    <div>
      <div className="scr-toolbar">
        <p className="muted scr-explain">
          Flows read a secret in any expression as <code>{"{{ secrets.NAME }}"}</code>, and webhook triggers name
          one for API-key or HMAC checks. Values are write-only: once saved, nobody can read them back here.
        </p>
        <span className="scr-spacer" />
        <button className="primary" onClick={() => setAdding(true)}>Add secret</button>
      </div>
      {notice && <p className="scr-notice" role="status">{notice}</p>}
      {error != null && <ErrorBanner error={error} onRetry={() => void load()} />}
      {secrets && secrets.length === 0 && (
        <EmptyState title="No secrets yet" testId="secrets-empty">
          <p>Keep API keys and passwords here instead of writing them into flows.</p>
          <button className="primary" onClick={() => setAdding(true)}>Add a secret</button>
        </EmptyState>
      )}
      {secrets && secrets.length > 0 && (
        <table className="scr-table" aria-label="Secrets">
          <thead>
            <tr><th>Name</th><th>Use as</th><th>Created</th><th>Value changed</th><th><span className="sr-only">Actions</span></th></tr>
          </thead>
          <tbody>
            {secrets.map((secret) => (
              <tr key={secret.id} data-testid="secret-row" data-name={secret.name}>
                <td><strong>{secret.name}</strong></td>
                <td><code>{`{{ secrets.${secret.name} }}`}</code></td>
                <td><Ago iso={secret.created_at} /></td>
                <td><Ago iso={secret.updated_at} /></td>
                <td className="scr-cell-actions">
                  <button onClick={() => setReplacing(secret)} aria-label={`Replace value of ${secret.name}`}>Replace value</button>
                  <button className="danger" onClick={() => setDeleting(secret)} aria-label={`Delete ${secret.name}`}>Delete</button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {adding && (
        <SecretDialog project={project} onClose={() => setAdding(false)} onSaved={(saved) => {
          setSecrets((all) => [...(all ?? []), saved].sort((a, b) => a.name.localeCompare(b.name)));
          setNotice(`Secret ${saved.name} saved.`);
        }} />
      )}
      {replacing && (
        <SecretDialog project={project} existing={replacing} onClose={() => setReplacing(null)} onSaved={(saved) => {
          setSecrets((all) => all?.map((s) => (s.id === saved.id ? saved : s)) ?? null);
          setNotice(`The value of ${saved.name} was replaced.`);
        }} />
      )}
      {deleting && (
        <ConfirmDialog title="Delete secret?" confirmLabel="Delete secret" onClose={() => setDeleting(null)}
          onConfirm={async () => {
            await secretsDelete({ project_id: project.id, name: deleting.name });
            setSecrets((all) => all?.filter((s) => s.id !== deleting.id) ?? null);
            setNotice(`Secret ${deleting.name} deleted.`);
          }}>
          <p>
            The secret <strong>{deleting.name}</strong> of <strong>{project.name}</strong> will be deleted. Flows that
            read <code>{`{{ secrets.${deleting.name} }}`}</code> will fail, and webhook routes that check it refuse
            every request (401).
          </p>
        </ConfirmDialog>
      )}
    </div>
  );
}

function SecretDialog({ project, existing, onClose, onSaved }: {
  project: ProjectPublic;
  existing?: SecretPublic;
  onClose: () => void;
  onSaved: (secret: SecretPublic) => void;
}) {
  const [name, setName] = useState("");
  const [value, setValue] = useState("");
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    const local: Record<string, string> = {};
    const problem = existing ? null : secretNameProblem(name.trim());
    if (problem) local.name = problem;
    if (!value) local.value = "Enter the value to keep.";
    setErrors(local);
    if (Object.keys(local).length) return;
    setBusy(true);
    try {
      const saved = existing
        ? await secretsUpdate({ project_id: project.id, name: existing.name }, { value })
        : await secretsCreate({ project_id: project.id }, { name: name.trim(), value });
      setValue("");
      onSaved(saved);
      onClose();
    } catch (e) {
      setErrors(fieldErrors(e, ["name", "value"], "form"));
      setBusy(false);
    }
  }

  return (
    <Modal title={existing ? `Replace the value of ${existing.name}` : "Add secret"} onClose={onClose} testId="secret-dialog">
      <form className="scr-form" onSubmit={submit} aria-label={existing ? "Replace secret value" : "Add secret"} noValidate
        autoComplete="off">
        {!existing && (
          <Field id="secret-name" label="Name" error={errors.name} hint={<>Read as <code>{`{{ secrets.${name.trim() || "NAME"} }}`}</code></>}>
            <input id="secret-name" value={name} autoFocus placeholder="STRIPE_KEY" spellCheck={false}
              onChange={(e) => setName(e.target.value)} aria-invalid={!!errors.name} />
          </Field>
        )}
        <Field id="secret-value" label={existing ? "New value" : "Value"} error={errors.value}
          hint="Stored encrypted; it is never shown again.">
          <input id="secret-value" type="password" value={value} autoFocus={!!existing} autoComplete="new-password"
            spellCheck={false} onChange={(e) => setValue(e.target.value)} aria-invalid={!!errors.value} />
        </Field>
        {errors.form && <p className="error" role="alert">{errors.form}</p>}
        <div className="scr-actions">
          <button type="button" onClick={onClose}>Cancel</button>
          <button type="submit" className="primary" disabled={busy}>
            {busy ? "Saving…" : existing ? "Replace value" : "Add secret"}
          </button>
        </div>
      </form>
    </Modal>
  );
}
