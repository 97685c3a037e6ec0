// Whether an edge may be drawn between two ports, by the same rules the API validates with
// (ARCHITECTURE §4/§5), so the canvas refuses a bad connection at once, with the reason.
import { portsOf, type CatalogueIndex } from "./catalogue";
import type { EdgeKind, FlowDocument, FlowNode } from "./types";

export interface ConnectionRequest {
  source: string;
  sourcePort: string;
  target: string;
  targetPort: string;
}

export type ConnectionCheck = { ok: true; kind: EdgeKind } | { ok: false; reason: string };

const SERVICE_KINDS: ReadonlySet<string> = new Set(["tool", "memory", "model"]);

function label(node: FlowNode): string {
  return node.title ? `“${node.title}”` : `'${node.id}'`;
}

/**
 * Checks a connection. `nodeById` lets a caller with 1,000 nodes pass its Map instead of
 * paying for a scan per check.
 */
export function checkConnection(
  doc: FlowDocument,
  catalogue: CatalogueIndex,
  request: ConnectionRequest,
  nodeById?: ReadonlyMap<string, FlowNode>,
): ConnectionCheck {
  const find = (id: string) => nodeById?.get(id) ?? doc.nodes.find((n) => n.id === id);
  const source = find(request.source);
  const target = find(request.target);
  if (!source || !target) return { ok: false, reason: "Both ends must be nodes of this flow." };
  if (source.id === target.id) return { ok: false, reason: "A node cannot be connected to itself." };
  const sourceSpec = catalogue.get(source.type, source.version);
  const targetSpec = catalogue.get(target.type, target.version);
  if (!sourceSpec) return { ok: false, reason: `Unknown node type ${source.type}.` };
  if (!targetSpec) return { ok: false, reason: `Unknown node type ${target.type}.` };
  const out = portsOf(source, sourceSpec).outputs.find((p) => p.name === request.sourcePort);
  const into = portsOf(target, targetSpec).inputs.find((p) => p.name === request.targetPort);
  if (!out) return { ok: false, reason: `${label(source)} has no output '${request.sourcePort}'.` };
  if (!into) return { ok: false, reason: `${label(target)} has no input '${request.targetPort}'.` };

  const duplicate = doc.edges.some(
    (e) => e.source === source.id && e.source_port === out.name && e.target === target.id && e.target_port === into.name,
  );
  if (duplicate) return { ok: false, reason: "These two ports are already connected." };

  const service = into.service ?? null;
  const outService = out.service ?? null;
  if (service || outService) {
    if (service !== outService || !service || !SERVICE_KINDS.has(service)) {
      return {
        ok: false,
        reason: service
          ? `Input '${into.name}' of ${label(target)} takes a ${service} service, not ${outService ? `a ${outService} service` : "data"}.`
          : `Output '${out.name}' of ${label(source)} is a ${outService} service; it only connects to a ${outService} service input.`,
      };
    }
  } else if (!catalogue.fitsInto(out.type, into.type)) {
    return {
      ok: false,
      reason: `Output '${out.name}' of ${label(source)} gives ${out.type}, which does not fit input '${into.name}' of ${label(target)} (${into.type}).`,
    };
  }

  if (!into.multi) {
    const taken = doc.edges.some((e) => e.target === target.id && e.target_port === into.name);
    if (taken) {
      return {
        ok: false,
        reason: `Input '${into.name}' of ${label(target)} takes one value and already has an edge; use a Merge node to combine values.`,
      };
    }
  }
  return { ok: true, kind: (service as EdgeKind | null) ?? "data" };
}
