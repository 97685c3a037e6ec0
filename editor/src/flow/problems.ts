// API validation problems (ARCHITECTURE §5) indexed by where they point: a node, an edge, a
// field inside a node, or the document, so each mark is one Map lookup.
import type { Problem } from "../api/generated";

export type { Problem };

export interface ProblemIndex {
  all: Problem[];
  byNode: Map<string, Problem[]>;
  byEdge: Map<string, Problem[]>;
  /** `nodeId` → field path (`params.url`, `retry.max_attempts`, `join`) → problems. */
  byField: Map<string, Map<string, Problem[]>>;
  /** Problems that name neither a node nor an edge. */
  document: Problem[];
  errors: number;
  warnings: number;
}

export const NO_PROBLEMS: ProblemIndex = indexProblems([]);

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

export function indexProblems(problems: Problem[]): ProblemIndex {
  const index: ProblemIndex = {
    all: problems,
    byNode: new Map(),
    byEdge: new Map(),
    byField: new Map(),
    document: [],
    errors: 0,
    warnings: 0,
  };
  for (const problem of problems) {
    if (problem.severity === "warning") index.warnings++;
    else index.errors++;
    if (problem.edge_id) {
      // An edge problem's field is inside the edge, so it marks the edge and (for context)
      // its node, never a node field.
      push(index.byEdge, problem.edge_id, problem);
      if (problem.node_id) push(index.byNode, problem.node_id, problem);
      continue;
    }
    if (problem.node_id) {
      push(index.byNode, problem.node_id, problem);
      if (problem.field) {
        let fields = index.byField.get(problem.node_id);
        if (!fields) index.byField.set(problem.node_id, (fields = new Map()));
        push(fields, problem.field, problem);
      }
      continue;
    }
    index.document.push(problem);
  }
  return index;
}

/** Problems of a node's field and of anything inside it (`params.values` gets `params.values.a`). */
export function fieldProblems(index: ProblemIndex, nodeId: string, path: string, exact = false): Problem[] {
  const fields = index.byField.get(nodeId);
  if (!fields) return [];
  if (exact) return fields.get(path) ?? [];
  const found: Problem[] = [];
  for (const [field, problems] of fields) {
    if (field === path || field.startsWith(path + ".")) found.push(...problems);
  }
  return found;
}

export function worstSeverity(problems: readonly Problem[] | undefined): "error" | "warning" | null {
  if (!problems?.length) return null;
  return problems.some((p) => p.severity !== "warning") ? "error" : "warning";
}
