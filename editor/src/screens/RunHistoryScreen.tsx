export function RunHistoryScreen({ flowId }: { flowId: string }) {
  return <div className="center-screen">Runs of {flowId} (to be built)</div>;
}
