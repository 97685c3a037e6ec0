import { useEffect, useState, type FormEvent } from "react";
import {
  projectsListStages,
  projectsRead,
  publishPublish,
  versionsCreate,
  versionsList,
  type ProjectPublic,
  type PublicationPublic,
  type StagePublic,
  type VersionSummary,
} from "../api/generated";
import { ApiError } from "../api/http";
import { href } from "../app/navigation";
import { errorMessage } from "./format";
import { RouteList } from "./Routes";
import "./screens.css";
import { Modal } from "./ui";

interface RouteRef {
  flow_id?: string;
  flow_name?: string;
  node_id?: string;
  method?: string;
  path?: string;
}

interface Problem {
  code?: string;
  message: string;
  node_id?: string | null;
  field?: string | null;
  severity?: string;
}

/** What went wrong with a publish, in the shape the dialog shows. */
type Refusal =
  | { kind: "problems"; message: string; problems: Problem[] }
  | { kind: "conflict"; message: string; route?: RouteRef; other?: RouteRef }
  | { kind: "plain"; message: string };

function describeRefusal(error: unknown): Refusal {
  if (error instanceof ApiError) {
    const details = (error.details ?? {}) as { problems?: Problem[]; route?: RouteRef; conflicts_with?: RouteRef };
    if (error.code === "invalid_flow" || error.code === "invalid_document") {
      return { kind: "problems", message: error.message, problems: details.problems ?? [] };
    }
    if (error.code === "route_conflict") {
      return { kind: "conflict", message: error.message, route: details.route, other: details.conflicts_with };
    }
  }
  return { kind: "plain", message: errorMessage(error) };
}

function routeText(route: RouteRef | undefined): string {
  if (!route) return "?";
  return `${route.method ?? ""} ${route.path ?? ""}`.trim();
}

/**
 * Publish a flow on a stage: the saved draft (cutting a new version, with an optional note) or
 * an existing version. Opened from the canvas toolbar and from the flows list.
 */
export function PublishDialog({ flowId, projectId, onClose }: { flowId: string; projectId: string; onClose: () => void }) {
  const [project, setProject] = useState<ProjectPublic | null>(null);
  const [stages, setStages] = useState<StagePublic[]>([]);
  const [versions, setVersions] = useState<VersionSummary[]>([]);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [stage, setStage] = useState("");
  const [source, setSource] = useState<"draft" | "version">("draft");
  const [version, setVersion] = useState("");
  const [note, setNote] = useState("");
  const [busy, setBusy] = useState(false);
  const [refusal, setRefusal] = useState<Refusal | null>(null);
  const [published, setPublished] = useState<PublicationPublic | null>(null);

  useEffect(() => {
    Promise.all([
      projectsRead({ project_id: projectId }),
      projectsListStages({ project_id: projectId }),
      versionsList({ flow_id: flowId, limit: 100 }),
    ])
      .then(([p, s, v]) => {
        setProject(p);
        setStages(s);
        setVersions(v.items);
        setStage(s.some((x) => x.name === "dev") ? "dev" : (s[0]?.name ?? ""));
        if (v.items[0]) setVersion(String(v.items[0].number));
      })
      .catch((e) => setLoadError(errorMessage(e)));
  }, [flowId, projectId]);

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (!stage) return;
    setBusy(true);
    setRefusal(null);
    try {
      let number: number | null = null;
      if (source === "version") number = Number(version);
      else if (note.trim()) {
        // A note needs its own version; without one, publish cuts the version itself so a
        // refused publish leaves no stray version behind.
        number = (await versionsCreate({ flow_id: flowId }, { note: note.trim() })).number;
      }
      setPublished(await publishPublish({ flow_id: flowId }, { stage, version: number }));
    } catch (e) {
      setRefusal(describeRefusal(e));
    } finally {
      setBusy(false);
    }
  }

  if (published && project) {
    return (
      <Modal title="Published" onClose={onClose} wide testId="publish-dialog">
        <div className="scr-form" data-testid="publish-success">
          <p role="status">
            <strong>{published.flow_name}</strong> v{published.version} is live on <strong>{published.stage}</strong>.
          </p>
          <RouteList routes={published.routes} schedules={published.schedules} slug={project.slug} stage={published.stage} />
          <div className="scr-actions">
            <a className="scr-linkbtn" href={href({ name: "project", projectId, tab: "stages" })} onClick={onClose}>
              See all stages
            </a>
            <button className="primary" onClick={onClose} autoFocus>Done</button>
          </div>
        </div>
      </Modal>
    );
  }

  return (
    <Modal title="Publish flow" onClose={onClose} wide testId="publish-dialog">
      <form className="scr-form" onSubmit={submit} aria-label="Publish flow">
        {loadError && <p className="error" role="alert">{loadError}</p>}
        <label>
          Stage
          <select value={stage} onChange={(e) => setStage(e.target.value)} required>
            {stages.map((s) => (
              <option key={s.id} value={s.name}>{s.name}{project ? ` — ${project.slug}-${s.name}` : ""}</option>
            ))}
          </select>
        </label>
        <fieldset className="scr-choice">
          <legend>What to publish</legend>
          <label className="scr-radio">
            <input type="radio" name="source" checked={source === "draft"} onChange={() => setSource("draft")} />
            The saved draft, as a new version
          </label>
          {source === "draft" && (
            <label className="scr-indent">
              Note (optional)
              <input value={note} onChange={(e) => setNote(e.target.value)} placeholder="What changed" />
            </label>
          )}
          <label className="scr-radio">
            <input type="radio" name="source" checked={source === "version"} disabled={versions.length === 0}
              onChange={() => setSource("version")} />
            An existing version{versions.length === 0 ? " (none yet)" : ""}
          </label>
          {source === "version" && (
            <label className="scr-indent">
              Version
              <select value={version} onChange={(e) => setVersion(e.target.value)}>
                {versions.map((v) => (
                  <option key={v.id} value={v.number}>v{v.number}{v.note ? ` — ${v.note}` : ""} ({v.created_at.slice(0, 16).replace("T", " ")})</option>
                ))}
              </select>
            </label>
          )}
        </fieldset>
        {refusal && <RefusalView refusal={refusal} />}
        <div className="scr-actions">
          <button type="button" onClick={onClose}>Cancel</button>
          <button type="submit" className="primary" disabled={busy || !stage}>{busy ? "Publishing…" : "Publish"}</button>
        </div>
      </form>
    </Modal>
  );
}

function RefusalView({ refusal }: { refusal: Refusal }) {
  if (refusal.kind === "conflict") {
    return (
      <div className="scr-error block" role="alert" data-testid="publish-conflict">
        <strong>Route conflict.</strong> {refusal.message}
        {refusal.route && refusal.other && (
          <p className="small">
            This flow's <code>{routeText(refusal.route)}</code> (node {refusal.route.node_id}) cannot be told apart from{" "}
            <code>{routeText(refusal.other)}</code> of <strong>{refusal.other.flow_name}</strong> (node{" "}
            {refusal.other.node_id}). Change one path — e.g. a static segment or a typed variable — or unpublish the other flow.
          </p>
        )}
      </div>
    );
  }
  if (refusal.kind === "problems") {
    return (
      <div className="scr-error block" role="alert" data-testid="publish-problems">
        <strong>The flow is not ready to publish.</strong> Fix these on the canvas, save, and publish again:
        <ul>
          {refusal.problems.map((p, i) => (
            <li key={i}>
              {p.node_id && <code>{p.node_id}</code>} {p.field && <span className="muted">({p.field})</span>} {p.message}
            </li>
          ))}
          {refusal.problems.length === 0 && <li>{refusal.message}</li>}
        </ul>
      </div>
    );
  }
  return <div className="scr-error block" role="alert">{refusal.message}</div>;
}
