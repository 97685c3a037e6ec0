import { useCallback, useEffect, useMemo, useState, type FormEvent } from "react";
import {
  projectsCreate,
  projectsDelete,
  projectsList,
  projectsUpdate,
  type ProjectPublic,
} from "../api/generated";
import { href, navigate } from "../app/navigation";
import { fieldErrors, slugProblem, suggestSlug } from "./format";
import { Layout } from "./Layout";
import { Ago, ConfirmDialog, EmptyState, ErrorBanner, Field, InlineRename, Modal } from "./ui";

const PAGE = 100;

/** Every project of the workspace: search, create, rename, delete. */
export function ProjectsScreen() {
  const [projects, setProjects] = useState<ProjectPublic[] | null>(null);
  const [total, setTotal] = useState(0);
  const [error, setError] = useState<unknown>(null);
  const [query, setQuery] = useState("");
  const [creating, setCreating] = useState(false);
  const [renaming, setRenaming] = useState<string | null>(null);
  const [deleting, setDeleting] = useState<ProjectPublic | null>(null);

  const load = useCallback(async () => {
    setError(null);
    try {
      const page = await projectsList({ limit: PAGE, offset: 0 });
      setProjects(page.items);
      setTotal(page.total);
    } catch (e) {
      setError(e);
    }
  }, []);
  useEffect(() => void load(), [load]);

  async function loadMore() {
    if (!projects) return;
    try {
      const page = await projectsList({ limit: PAGE, offset: projects.length });
      setProjects([...projects, ...page.items]);
      setTotal(page.total);
    } catch (e) {
      setError(e);
    }
  }

  const shown = useMemo(() => {
    const q = query.trim().toLowerCase();
    if (!projects || !q) return projects ?? [];
    return projects.filter((p) => p.name.toLowerCase().includes(q) || p.slug.includes(q));
  }, [projects, query]);

  return (
    <Layout
      crumbs={[{ label: "Projects" }]}
      actions={<button className="primary" onClick={() => setCreating(true)}>New project</button>}
    >
      <div className="scr-toolbar">
        <input
          type="search"
          className="scr-search"
          placeholder="Search projects by name or slug"
          aria-label="Search projects"
          value={query}
          onChange={(e) => setQuery(e.target.value)}
        />
        {projects && <span className="muted small">{total} project{total === 1 ? "" : "s"}</span>}
      </div>
      {error != null && <ErrorBanner error={error} onRetry={() => void load()} />}
      {projects === null && error == null && <p className="muted">Loading projects…</p>}
      {projects && projects.length === 0 && (
        <EmptyState title="No projects yet" testId="projects-empty">
          <p>A project holds flows, their secrets and the stages they are published to.</p>
          <button className="primary" onClick={() => setCreating(true)}>Create your first project</button>
        </EmptyState>
      )}
      {projects && projects.length > 0 && shown.length === 0 && (
        <EmptyState title={`No project matches “${query}”`}>
          <button onClick={() => setQuery("")}>Clear the search</button>
        </EmptyState>
      )}
      {shown.length > 0 && (
        <ul className="scr-list" aria-label="Projects">
          {shown.map((project) => (
            <li key={project.id} className="scr-row" data-testid="project-row" data-slug={project.slug}>
              <div className="scr-row-main">
                {renaming === project.id ? (
                  <InlineRename
                    value={project.name}
                    label="Project name"
                    onDone={() => setRenaming(null)}
                    onSave={async (name) => {
                      const saved = await projectsUpdate({ project_id: project.id }, { name });
                      setProjects((all) => all?.map((p) => (p.id === saved.id ? saved : p)) ?? null);
                    }}
                  />
                ) : (
                  <a className="scr-row-title" href={href({ name: "project", projectId: project.id, tab: "flows" })}>
                    {project.name}
                  </a>
                )}
                <span className="muted small">
                  <code>{project.slug}</code> · created <Ago iso={project.created_at} />
                </span>
              </div>
              <div className="scr-row-actions">
                <a className="scr-linkbtn" href={href({ name: "project", projectId: project.id, tab: "stages" })}>Stages</a>
                <button onClick={() => setRenaming(project.id)} aria-label={`Rename ${project.name}`}>Rename</button>
                <button className="danger" onClick={() => setDeleting(project)} aria-label={`Delete ${project.name}`}>
                  Delete
                </button>
              </div>
            </li>
          ))}
        </ul>
      )}
      {projects && projects.length < total && (
        <button className="scr-more" onClick={() => void loadMore()}>Load more projects</button>
      )}
      {creating && (
        <CreateProjectDialog
          onClose={() => setCreating(false)}
          onCreated={(project) => navigate({ name: "project", projectId: project.id, tab: "flows" })}
        />
      )}
      {deleting && (
        <ConfirmDialog
          title="Delete project?"
          confirmLabel="Delete project"
          onClose={() => setDeleting(null)}
          onConfirm={async () => {
            await projectsDelete({ project_id: deleting.id });
            setProjects((all) => all?.filter((p) => p.id !== deleting.id) ?? null);
            setTotal((t) => t - 1);
          }}
        >
          <p>
            <strong>{deleting.name}</strong> (<code>{deleting.slug}</code>) will be deleted with all its flows,
            versions, runs, secrets and publications. Its routes stop answering at once. This cannot be undone.
          </p>
        </ConfirmDialog>
      )}
    </Layout>
  );
}

function CreateProjectDialog({ onClose, onCreated }: { onClose: () => void; onCreated: (p: ProjectPublic) => void }) {
  const [name, setName] = useState("");
  const [slug, setSlug] = useState("");
  // The slug follows the name until the user types one of their own.
  const [slugEdited, setSlugEdited] = useState(false);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  const effectiveSlug = slugEdited ? slug : suggestSlug(name);

  async function submit(event: FormEvent) {
    event.preventDefault();
    const local: Record<string, string> = {};
    if (!name.trim()) local.name = "Give the project a name.";
    const problem = slugProblem(effectiveSlug);
    if (problem) local.slug = problem;
    setErrors(local);
    if (Object.keys(local).length) return;
    setBusy(true);
    try {
      onCreated(await projectsCreate({ name: name.trim(), slug: effectiveSlug }));
    } catch (e) {
      setErrors(fieldErrors(e, ["name", "slug"], "form"));
      setBusy(false);
    }
  }

  return (
    <Modal title="New project" onClose={onClose} testId="new-project-dialog">
      <form className="scr-form" onSubmit={submit} aria-label="New project" noValidate>
        <Field id="project-name" label="Name" error={errors.name}>
          <input id="project-name" value={name} autoFocus onChange={(e) => setName(e.target.value)}
            aria-invalid={!!errors.name} placeholder="My shop" />
        </Field>
        <Field
          id="project-slug"
          label="Slug"
          error={errors.slug}
          hint={
            <>Part of every published URL: <code>{effectiveSlug || "slug"}-prod.…</code>. It cannot be changed later.</>
          }
        >
          <input id="project-slug" value={effectiveSlug} aria-invalid={!!errors.slug}
            aria-describedby={errors.slug ? "project-slug-error" : "project-slug-hint"}
            onChange={(e) => {
              setSlugEdited(true);
              setSlug(e.target.value);
            }} />
        </Field>
        {errors.form && <p className="error" role="alert">{errors.form}</p>}
        <div className="scr-actions">
          <button type="button" onClick={onClose}>Cancel</button>
          <button type="submit" className="primary" disabled={busy}>{busy ? "Creating…" : "Create project"}</button>
        </div>
      </form>
    </Modal>
  );
}
