import { useCallback, useEffect, useState } from "react";
import { projectsRead, projectsUpdate, type ProjectPublic } from "../api/generated";
import type { ProjectTab } from "../app/routes";
import { href } from "../app/navigation";
import { FlowsTab } from "./FlowsTab";
import { Layout } from "./Layout";
import { SecretsTab } from "./SecretsTab";
import { StagesTab } from "./StagesTab";
import { ErrorBanner, InlineRename } from "./ui";

const TAB_LABELS: Record<ProjectTab, string> = {
  flows: "Flows",
  secrets: "Secrets",
  stages: "Stages & publications",
};

/** One project: its flows, its secrets, and its stages with what is published on them. */
export function ProjectScreen({ projectId, tab }: { projectId: string; tab: ProjectTab }) {
  const [project, setProject] = useState<ProjectPublic | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [renaming, setRenaming] = useState(false);

  const load = useCallback(async () => {
    setError(null);
    try {
      setProject(await projectsRead({ project_id: projectId }));
    } catch (e) {
      setError(e);
    }
  }, [projectId]);
  useEffect(() => void load(), [load]);

  return (
    <Layout crumbs={[{ label: "Projects", href: "#/projects" }, { label: project?.name ?? "…" }]}>
      {error != null && <ErrorBanner error={error} onRetry={() => void load()} />}
      {project && (
        <>
          <div className="scr-titlebar">
            {renaming ? (
              <InlineRename
                value={project.name}
                label="Project name"
                onDone={() => setRenaming(false)}
                onSave={async (name) => setProject(await projectsUpdate({ project_id: projectId }, { name }))}
              />
            ) : (
              <h1 className="scr-title">
                {project.name}
                <button className="scr-subtle" onClick={() => setRenaming(true)} aria-label="Rename project">Rename</button>
              </h1>
            )}
            <span className="muted small">slug <code>{project.slug}</code></span>
          </div>
          <nav className="scr-tabs" role="tablist" aria-label="Project sections">
            {(Object.keys(TAB_LABELS) as ProjectTab[]).map((t) => (
              <a key={t} role="tab" aria-selected={t === tab} className={t === tab ? "active" : ""}
                href={href({ name: "project", projectId, tab: t })}>
                {TAB_LABELS[t]}
              </a>
            ))}
          </nav>
          <section role="tabpanel" aria-label={TAB_LABELS[tab]} className="scr-tabpanel">
            {tab === "flows" && <FlowsTab project={project} />}
            {tab === "secrets" && <SecretsTab project={project} />}
            {tab === "stages" && <StagesTab project={project} />}
          </section>
        </>
      )}
    </Layout>
  );
}
