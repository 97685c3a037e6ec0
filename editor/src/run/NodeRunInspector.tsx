// STUB (owned by the running work).
import type { RunSession } from "./useRunSession";

export function NodeRunInspector(_props: { session: RunSession; nodeId: string }) {
  return null;
}
