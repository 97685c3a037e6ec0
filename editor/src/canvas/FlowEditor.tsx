export function FlowEditor({ flowId, runId }: { flowId: string; runId?: string }) {
  return <div className="center-screen">Flow {flowId} {runId} (to be built)</div>;
}
