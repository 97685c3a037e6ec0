import type { ProjectTab } from "../app/routes";

export function ProjectScreen({ projectId, tab }: { projectId: string; tab: ProjectTab }) {
  return <div className="center-screen">Project {projectId} / {tab} (to be built)</div>;
}
