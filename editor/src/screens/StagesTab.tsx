import { useCallback, useEffect, useMemo, useState, type FormEvent } from "react";
import {
  projectsCreateStage,
  projectsDeleteStage,
  projectsListStages,
  publishHistory,
  publishList,
  publishPromote,
  publishRollback,
  publishUnpublish,
  schedulesList,
  workspacesListMembers,
  type ProjectPublic,
  type PublicationPublic,
  type SchedulePublic,
  type StagePublic,
} from "../api/generated";
import { href } from "../app/navigation";
import { useSession } from "../app/session";
import { errorMessage, fieldErrors, stageNameProblem } from "./format";
import { RouteList } from "./Routes";
import { ScheduleList } from "./Schedules";
import { Ago, ConfirmDialog, ErrorBanner, Field, Modal } from "./ui";

/** The stages every project keeps; the API refuses to delete them. */
const BUILT_IN = new Set(["dev", "prod"]);

/** Who published: "you", a member's name, or "an API token" (published_by is null then). */
function usePublisherNames(): (userId: string | null) => string {
  const { me } = useSession();
  const [names, setNames] = useState<Record<string, string>>({});
  useEffect(() => {
    // Members may be hidden from some roles; ids are shown shortened then.
    workspacesListMembers()
      .then((members) => setNames(Object.fromEntries(members.map((m) => [m.user_id, m.name || m.email]))))
      .catch(() => undefined);
  }, []);
  return (userId) => {
    if (!userId) return "an API token";
    if (userId === me.user_id) return "you";
    return names[userId] ?? `user ${userId.slice(0, 8)}`;
  };
}

export function StagesTab({ project }: { project: ProjectPublic }) {
  const [stages, setStages] = useState<StagePublic[] | null>(null);
  const [active, setActive] = useState<PublicationPublic[]>([]);
  const [schedules, setSchedules] = useState<SchedulePublic[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [adding, setAdding] = useState(false);
  const [deleting, setDeleting] = useState<StagePublic | null>(null);
  // Bumped after every change so each stage's history reloads.
  const [version, setVersion] = useState(0);
  const publisher = usePublisherNames();

  const load = useCallback(async () => {
    try {
      const [stageList, publications, scheduleList] = await Promise.all([
        projectsListStages({ project_id: project.id }),
        publishList({ project_id: project.id }),
        schedulesList({ project_id: project.id }),
      ]);
      setStages(stageList);
      setActive(publications);
      setSchedules(scheduleList);
      setError(null);
      setVersion((v) => v + 1);
    } catch (e) {
      setError(e);
    }
  }, [project.id]);
  useEffect(() => void load(), [load]);

  return (
    <div>
      <div className="scr-toolbar">
        <p className="muted scr-explain">
          A stage serves the published version of each flow at <code>{project.slug}-STAGE.…</code>. Publish a flow from
          the <a href={href({ name: "project", projectId: project.id, tab: "flows" })}>Flows</a> tab or the canvas,
          then promote it from stage to stage.
        </p>
        <span className="scr-spacer" />
        <button className="primary" onClick={() => setAdding(true)}>New stage</button>
      </div>
      {error != null && <ErrorBanner error={error} onRetry={() => void load()} />}
      {stages === null && error == null && <p className="muted">Loading stages…</p>}
      {stages?.map((stage) => (
        <StageCard
          key={stage.id}
          project={project}
          stage={stage}
          stages={stages}
          publications={active.filter((p) => p.stage === stage.name)}
          schedules={schedules.filter((s) => s.stage === stage.name)}
          reloadKey={version}
          publisher={publisher}
          onChanged={load}
          onDelete={() => setDeleting(stage)}
        />
      ))}
      {adding && <CreateStageDialog project={project} onClose={() => setAdding(false)} onCreated={load} />}
      {deleting && (
        <ConfirmDialog title="Delete stage?" confirmLabel="Delete stage" onClose={() => setDeleting(null)}
          onConfirm={async () => {
            await projectsDeleteStage({ project_id: project.id, stage_name: deleting.name });
            await load();
          }}>
          <p>
            The stage <strong>{deleting.name}</strong> of <strong>{project.name}</strong> will be deleted with its
            publications; every route at <code>{project.slug}-{deleting.name}.…</code> stops answering.
          </p>
        </ConfirmDialog>
      )}
    </div>
  );
}

function StageCard({ project, stage, stages, publications, schedules, reloadKey, publisher, onChanged, onDelete }: {
  project: ProjectPublic;
  stage: StagePublic;
  stages: StagePublic[];
  publications: PublicationPublic[];
  schedules: SchedulePublic[];
  reloadKey: number;
  publisher: (userId: string | null) => string;
  onChanged: () => Promise<void>;
  onDelete: () => void;
}) {
  const [history, setHistory] = useState<PublicationPublic[] | null>(null);
  const [showHistory, setShowHistory] = useState(false);
  const [actionError, setActionError] = useState<string | null>(null);
  const [unpublishing, setUnpublishing] = useState<PublicationPublic | null>(null);

  useEffect(() => {
    publishHistory({ project_id: project.id, stage_name: stage.name, limit: 100 })
      .then((page) => setHistory(page.items))
      .catch(() => setHistory([]));
  }, [project.id, stage.name, reloadKey]);

  async function act(what: () => Promise<unknown>) {
    setActionError(null);
    try {
      await what();
      await onChanged();
    } catch (e) {
      setActionError(errorMessage(e));
    }
  }

  const builtIn = BUILT_IN.has(stage.name);
  return (
    <section className="scr-stage card" aria-label={`Stage ${stage.name}`} data-testid={`stage-${stage.name}`}>
      <header className="scr-stage-head">
        <h2>{stage.name}</h2>
        <span className="muted small">{publications.length} flow{publications.length === 1 ? "" : "s"} published</span>
        <span className="scr-spacer" />
        <button onClick={() => setShowHistory((s) => !s)} aria-expanded={showHistory}>
          {showHistory ? "Hide history" : "History"}
        </button>
        <button className="danger" onClick={onDelete} disabled={builtIn}
          title={builtIn ? "dev and prod are built in and cannot be deleted" : undefined}
          aria-label={`Delete stage ${stage.name}`}>
          Delete
        </button>
      </header>
      {actionError && <p className="error" role="alert">{actionError}</p>}
      {publications.length === 0 && (
        <p className="muted">Nothing is published on {stage.name} yet. Use “Publish…” on a flow to put a version here.</p>
      )}
      {publications.map((publication) => (
        <PublicationItem
          key={publication.id}
          project={project}
          publication={publication}
          schedules={schedules.filter((s) => s.flow_id === publication.flow_id)}
          onSchedulesChanged={onChanged}
          stages={stages}
          history={(history ?? []).filter((h) => h.flow_id === publication.flow_id)}
          publisher={publisher}
          onUnpublish={() => setUnpublishing(publication)}
          onRollback={(v) => act(() => publishRollback({ flow_id: publication.flow_id, stage_name: stage.name }, { version: v }))}
          onPromote={(to) => act(() => publishPromote({ flow_id: publication.flow_id }, { from_stage: stage.name, to_stage: to }))}
        />
      ))}
      {showHistory && (
        <div className="scr-history">
          <h3>History of {stage.name}</h3>
          {history === null && <p className="muted">Loading…</p>}
          {history && history.length === 0 && <p className="muted">Nothing was ever published here.</p>}
          {history && history.length > 0 && (
            <table className="scr-table" aria-label={`History of ${stage.name}`}>
              <thead><tr><th>Flow</th><th>Version</th><th>Action</th><th>By</th><th>When</th><th>State</th></tr></thead>
              <tbody>
                {history.map((h) => (
                  <tr key={h.id} data-testid="history-row">
                    <td><a href={href({ name: "flow", flowId: h.flow_id })}>{h.flow_name}</a></td>
                    <td>v{h.version}</td>
                    <td>{h.action}</td>
                    <td>{publisher(h.published_by)}</td>
                    <td><Ago iso={h.published_at} /></td>
                    <td>{h.active ? <span className="scr-badge ok">serving</span> : <span className="muted">ended{h.unpublished_at ? <> <Ago iso={h.unpublished_at} /></> : null}</span>}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
      )}
      {unpublishing && (
        <ConfirmDialog title="Unpublish flow?" confirmLabel="Unpublish" onClose={() => setUnpublishing(null)}
          onConfirm={async () => {
            await publishUnpublish({ flow_id: unpublishing.flow_id, stage_name: stage.name });
            await onChanged();
          }}>
          <p>
            <strong>{unpublishing.flow_name}</strong> v{unpublishing.version} stops being served on{" "}
            <strong>{stage.name}</strong>: its {unpublishing.routes.length} route(s) stop answering and its schedules
            stop. You can publish or roll back again later.
          </p>
        </ConfirmDialog>
      )}
    </section>
  );
}

function PublicationItem({ project, publication, schedules, onSchedulesChanged, stages, history, publisher, onUnpublish, onRollback, onPromote }: {
  project: ProjectPublic;
  publication: PublicationPublic;
  schedules: SchedulePublic[];
  onSchedulesChanged: () => Promise<void>;
  stages: StagePublic[];
  history: PublicationPublic[];
  publisher: (userId: string | null) => string;
  onUnpublish: () => void;
  onRollback: (version: number) => Promise<void>;
  onPromote: (toStage: string) => Promise<void>;
}) {
  const earlier = useMemo(
    () => [...new Set(history.map((h) => h.version))].filter((v) => v !== publication.version).sort((a, b) => b - a),
    [history, publication.version],
  );
  const targets = stages.filter((s) => s.name !== publication.stage);
  const [rollbackTo, setRollbackTo] = useState<string>("");
  const [promoteTo, setPromoteTo] = useState<string>("");
  const [busy, setBusy] = useState(false);
  const run = async (what: () => Promise<void>) => {
    setBusy(true);
    await what();
    setBusy(false);
  };

  return (
    <article className="scr-publication" data-testid="publication" data-flow-id={publication.flow_id}
      aria-label={`${publication.flow_name} on ${publication.stage}`}>
      <div className="scr-publication-head">
        <a className="scr-row-title" href={href({ name: "flow", flowId: publication.flow_id })}>{publication.flow_name}</a>
        <span className="scr-badge" data-testid="publication-version">v{publication.version}</span>
        <span className="muted small">
          {publication.action === "publish" ? "published" : publication.action === "rollback" ? "rolled back" : "promoted"} by{" "}
          {publisher(publication.published_by)} <Ago iso={publication.published_at} />
        </span>
        <span className="scr-spacer" />
        <a className="scr-linkbtn" href={href({ name: "runs", flowId: publication.flow_id })}>Runs</a>
        <button className="danger" onClick={onUnpublish}>Unpublish</button>
      </div>
      {/* The schedules' live state (next fire times, pause) replaces their plain cron lines once loaded. */}
      {(publication.routes.length > 0 || schedules.length === 0) && (
        <RouteList routes={publication.routes} schedules={schedules.length > 0 ? [] : publication.schedules}
          slug={project.slug} stage={publication.stage} />
      )}
      {schedules.length > 0 && <ScheduleList projectId={project.id} schedules={schedules} onChanged={onSchedulesChanged} />}
      <div className="scr-publication-actions">
        <form onSubmit={(e) => { e.preventDefault(); if (rollbackTo) void run(() => onRollback(Number(rollbackTo))); }}>
          <label className="scr-inline">
            Roll back to
            <select value={rollbackTo} onChange={(e) => setRollbackTo(e.target.value)} disabled={earlier.length === 0}
              aria-label={`Roll back ${publication.flow_name} on ${publication.stage} to`}>
              <option value="">{earlier.length ? "an earlier version…" : "no earlier version here"}</option>
              {earlier.map((v) => <option key={v} value={v}>v{v}</option>)}
            </select>
          </label>
          <button type="submit" disabled={!rollbackTo || busy}>Roll back</button>
        </form>
        <form onSubmit={(e) => { e.preventDefault(); if (promoteTo) void run(() => onPromote(promoteTo)); }}>
          <label className="scr-inline">
            Promote v{publication.version} to
            <select value={promoteTo} onChange={(e) => setPromoteTo(e.target.value)}
              aria-label={`Promote ${publication.flow_name} from ${publication.stage} to`}>
              <option value="">a stage…</option>
              {targets.map((s) => <option key={s.id} value={s.name}>{s.name}</option>)}
            </select>
          </label>
          <button type="submit" disabled={!promoteTo || busy}>Promote</button>
        </form>
      </div>
    </article>
  );
}

function CreateStageDialog({ project, onClose, onCreated }: { project: ProjectPublic; onClose: () => void; onCreated: () => Promise<void> }) {
  const [name, setName] = useState("");
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  async function submit(event: FormEvent) {
    event.preventDefault();
    const problem = stageNameProblem(name.trim());
    if (problem) return setErrors({ name: problem });
    setBusy(true);
    try {
      await projectsCreateStage({ project_id: project.id }, { name: name.trim() });
      await onCreated();
      onClose();
    } catch (e) {
      setErrors(fieldErrors(e, ["name"], "name"));
      setBusy(false);
    }
  }
  return (
    <Modal title="New stage" onClose={onClose} testId="new-stage-dialog">
      <form className="scr-form" onSubmit={submit} aria-label="New stage" noValidate>
        <Field id="stage-name" label="Name" error={errors.name}
          hint={<>Routes will answer at <code>{project.slug}-{name.trim() || "name"}.…</code></>}>
          <input id="stage-name" value={name} autoFocus placeholder="staging" onChange={(e) => setName(e.target.value)}
            aria-invalid={!!errors.name} />
        </Field>
        <div className="scr-actions">
          <button type="button" onClick={onClose}>Cancel</button>
          <button type="submit" className="primary" disabled={busy}>{busy ? "Creating…" : "Create stage"}</button>
        </div>
      </form>
    </Modal>
  );
}

