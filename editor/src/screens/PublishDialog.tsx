// STUB (owned by the screens work).
export function PublishDialog(_props: { flowId: string; projectId: string; onClose: () => void }) {
  return null;
}
