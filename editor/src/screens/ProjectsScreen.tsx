export function ProjectsScreen() {
  return <div className="center-screen">Projects (to be built)</div>;
}
