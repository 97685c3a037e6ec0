// STUB (owned by the running work).
import type { FlowDocument } from "../flow/types";
import type { RunSession } from "./useRunSession";

export interface RunToolbarProps {
  session: RunSession;
  flowId: string;
  document: FlowDocument;
  selectedNodeId: string | null;
}

export function RunToolbar(_props: RunToolbarProps) {
  return null;
}
