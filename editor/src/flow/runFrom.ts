// "Run from here": which nodes feed a node, and the pinned outputs that let it run again
// without running them. Framework-free.
import type { FlowDocument, JsonValue } from "./types";
import type { NodeRunView, RunView } from "./runState";

export type Pinned = { [nodeId: string]: { [port: string]: JsonValue } };

/** Every node with a data path into `nodeId` (not the node itself). Tool, memory and model
 * edges are left out: their sources are services of the node, not steps of the run, and the
 * engine cannot seed them. */
export function upstreamNodes(document: FlowDocument, nodeId: string): string[] {
  const into = new Map<string, string[]>();
  for (const edge of document.edges) {
    if ((edge.kind ?? "data") !== "data") continue;
    const sources = into.get(edge.target) ?? [];
    sources.push(edge.source);
    into.set(edge.target, sources);
  }
  const seen = new Set<string>();
  const stack = [nodeId];
  while (stack.length > 0) {
    const current = stack.pop() as string;
    for (const source of into.get(current) ?? []) {
      if (source !== nodeId && !seen.has(source)) {
        seen.add(source);
        stack.push(source);
      }
    }
  }
  // Document order, so the pinned object (and what the user reads) is stable.
  return document.nodes.map((n) => n.id).filter((id) => seen.has(id));
}

/** Outputs a node passes on: a success's, or a routed failure's (its `error` port). */
function passedOn(node: NodeRunView | undefined): { [port: string]: JsonValue } | null {
  if (!node || node.outputs === null) return null;
  if (node.status === "succeeded") return node.outputs;
  if ((node.status === "failed" || node.status === "timed_out") && Object.keys(node.outputs).length > 0) {
    return node.outputs;
  }
  return null;
}

export type RunFromPlan =
  | { ok: true; fromNode: string; pinned: Pinned }
  | { ok: false; missing: string[] };

/** The start request for running `nodeId` again with its upstream pinned from `run`; or which
 * upstream nodes have no outputs in that run. */
export function planRunFrom(document: FlowDocument, run: RunView | null, nodeId: string): RunFromPlan {
  if (!document.nodes.some((n) => n.id === nodeId)) return { ok: false, missing: [] };
  const upstream = upstreamNodes(document, nodeId);
  const pinned: Pinned = {};
  const missing: string[] = [];
  for (const id of upstream) {
    const outputs = passedOn(run?.nodes[id]);
    if (outputs === null) missing.push(id);
    else pinned[id] = outputs;
  }
  if (run === null || missing.length > 0) return { ok: false, missing };
  return { ok: true, fromNode: nodeId, pinned };
}
