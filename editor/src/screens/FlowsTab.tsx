import { useCallback, useEffect, useRef, useState, type FormEvent } from "react";
import {
  flowsCreate,
  flowsDelete,
  flowsList,
  flowsRead,
  flowsUpdate,
  type FlowSummary,
  type ProjectPublic,
} from "../api/generated";
import { ApiError } from "../api/http";
import { href, navigate } from "../app/navigation";
import { errorMessage } from "./format";
import { PublishDialog } from "./PublishDialog";
import { Ago, ConfirmDialog, EmptyState, ErrorBanner, Field, InlineRename, Modal } from "./ui";

const PAGE = 100;

/** Renames a flow: a flow's name lives in its document, so the save carries the document. */
async function renameFlow(flowId: string, name: string): Promise<FlowSummary> {
  for (let attempt = 0; ; attempt++) {
    const flow = await flowsRead({ flow_id: flowId });
    try {
      return await flowsUpdate({ flow_id: flowId }, { document: flow.document, revision: flow.revision, name });
    } catch (e) {
      // Someone saved in between; the rename does not depend on the document, so retry once.
      if (!(e instanceof ApiError && e.status === 409 && attempt === 0)) throw e;
    }
  }
}

export function FlowsTab({ project }: { project: ProjectPublic }) {
  const [flows, setFlows] = useState<FlowSummary[] | null>(null);
  const [total, setTotal] = useState(0);
  const [error, setError] = useState<unknown>(null);
  const [query, setQuery] = useState("");
  const [creating, setCreating] = useState(false);
  const [renaming, setRenaming] = useState<string | null>(null);
  const [deleting, setDeleting] = useState<FlowSummary | null>(null);
  const [publishing, setPublishing] = useState<string | null>(null);
  const latestQuery = useRef("");

  const load = useCallback(async (q: string) => {
    latestQuery.current = q;
    try {
      const page = await flowsList({ project_id: project.id, q: q || null, limit: PAGE, offset: 0 });
      // Answers of older searches may arrive late; only the newest one is shown.
      if (latestQuery.current !== q) return;
      setFlows(page.items);
      setTotal(page.total);
      setError(null);
    } catch (e) {
      setError(e);
    }
  }, [project.id]);

  useEffect(() => {
    const timer = window.setTimeout(() => void load(query.trim()), query ? 200 : 0);
    return () => window.clearTimeout(timer);
  }, [load, query]);

  async function loadMore() {
    if (!flows) return;
    const page = await flowsList({ project_id: project.id, q: query.trim() || null, limit: PAGE, offset: flows.length });
    setFlows([...flows, ...page.items]);
    setTotal(page.total);
  }

  return (
    <div>
      <div className="scr-toolbar">
        <input type="search" className="scr-search" placeholder="Search flows by name" aria-label="Search flows"
          value={query} onChange={(e) => setQuery(e.target.value)} />
        {flows && <span className="muted small">{total} flow{total === 1 ? "" : "s"}</span>}
        <span className="scr-spacer" />
        <button className="primary" onClick={() => setCreating(true)}>New flow</button>
      </div>
      {error != null && <ErrorBanner error={error} onRetry={() => void load(query.trim())} />}
      {flows === null && error == null && <p className="muted">Loading flows…</p>}
      {flows && flows.length === 0 && !query && (
        <EmptyState title="No flows in this project yet" testId="flows-empty">
          <p>A flow wires nodes together: a trigger (a webhook, a schedule, a manual run) and what happens next.</p>
          <button className="primary" onClick={() => setCreating(true)}>Create a flow</button>
        </EmptyState>
      )}
      {flows && flows.length === 0 && query && (
        <EmptyState title={`No flow matches “${query}”`}>
          <button onClick={() => setQuery("")}>Clear the search</button>
        </EmptyState>
      )}
      {flows && flows.length > 0 && (
        <ul className="scr-list" aria-label="Flows">
          {flows.map((flow) => (
            <li key={flow.id} className="scr-row" data-testid="flow-row" data-flow-id={flow.id}>
              <div className="scr-row-main">
                {renaming === flow.id ? (
                  <InlineRename value={flow.name} label="Flow name" onDone={() => setRenaming(null)}
                    onSave={async (name) => {
                      const saved = await renameFlow(flow.id, name);
                      setFlows((all) => all?.map((f) => (f.id === saved.id ? { ...f, ...saved } : f)) ?? null);
                    }} />
                ) : (
                  <a className="scr-row-title" href={href({ name: "flow", flowId: flow.id })}>{flow.name}</a>
                )}
                <span className="muted small">
                  updated <Ago iso={flow.updated_at} /> · revision {flow.revision}
                </span>
              </div>
              <div className="scr-row-actions">
                <a className="scr-linkbtn" href={href({ name: "flow", flowId: flow.id })}>Open</a>
                <a className="scr-linkbtn" href={href({ name: "runs", flowId: flow.id })}>Runs</a>
                <button onClick={() => setPublishing(flow.id)} aria-label={`Publish ${flow.name}`}>Publish…</button>
                <button onClick={() => setRenaming(flow.id)} aria-label={`Rename ${flow.name}`}>Rename</button>
                <button className="danger" onClick={() => setDeleting(flow)} aria-label={`Delete ${flow.name}`}>Delete</button>
              </div>
            </li>
          ))}
        </ul>
      )}
      {flows && flows.length < total && <button className="scr-more" onClick={() => void loadMore()}>Load more flows</button>}
      {creating && <CreateFlowDialog project={project} onClose={() => setCreating(false)} />}
      {publishing && <PublishDialog flowId={publishing} projectId={project.id} onClose={() => setPublishing(null)} />}
      {deleting && (
        <ConfirmDialog title="Delete flow?" confirmLabel="Delete flow" onClose={() => setDeleting(null)}
          onConfirm={async () => {
            await flowsDelete({ flow_id: deleting.id });
            setFlows((all) => all?.filter((f) => f.id !== deleting.id) ?? null);
            setTotal((t) => t - 1);
          }}>
          <p>
            <strong>{deleting.name}</strong> will be deleted with its versions, its runs and its publications
            in <strong>{project.name}</strong>; its published routes stop answering. This cannot be undone.
          </p>
        </ConfirmDialog>
      )}
    </div>
  );
}

function CreateFlowDialog({ project, onClose }: { project: ProjectPublic; onClose: () => void }) {
  const [name, setName] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  async function submit(event: FormEvent) {
    event.preventDefault();
    const trimmed = name.trim();
    if (!trimmed) return setError("Give the flow a name.");
    setBusy(true);
    try {
      const flow = await flowsCreate(
        { project_id: project.id },
        { name: trimmed, document: { schema_version: 1, name: trimmed, nodes: [], edges: [] } },
      );
      navigate({ name: "flow", flowId: flow.id });
    } catch (e) {
      setError(errorMessage(e));
      setBusy(false);
    }
  }
  return (
    <Modal title="New flow" onClose={onClose} testId="new-flow-dialog">
      <form className="scr-form" onSubmit={submit} aria-label="New flow" noValidate>
        <Field id="flow-name" label="Name" error={error} hint="You can rename it any time.">
          <input id="flow-name" value={name} autoFocus placeholder="Order confirmation"
            onChange={(e) => setName(e.target.value)} aria-invalid={!!error} />
        </Field>
        <div className="scr-actions">
          <button type="button" onClick={onClose}>Cancel</button>
          <button type="submit" className="primary" disabled={busy}>{busy ? "Creating…" : "Create and open"}</button>
        </div>
      </form>
    </Modal>
  );
}
