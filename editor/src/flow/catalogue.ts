// The node catalogue (`GET /api/nodes`) indexed for the canvas: lookups by type through a Map,
// so drawing 1,000 nodes never scans the list, and each node's ports including the ones its
// params or settings add (switch cases, the error port).
import type { Catalogue, NodeTypePublic, PortPublic } from "../api/generated";
import type { FlowNode, JsonValue } from "./types";

export type { Catalogue, NodeTypePublic, PortPublic };

export interface PortsOf {
  inputs: PortPublic[];
  outputs: PortPublic[];
}

export const ERROR_PORT: PortPublic = {
  name: "error",
  type: "error",
  required: false,
  description: "The node's error, when on_error is error_port.",
};

export class CatalogueIndex {
  readonly catalogue: Catalogue;
  private readonly byType = new Map<string, NodeTypePublic>();
  private readonly fits = new Map<string, Set<string>>();

  constructor(catalogue: Catalogue) {
    this.catalogue = catalogue;
    // Several versions may be registered; the newest is what new nodes get.
    for (const spec of catalogue.nodes) {
      const key = `${spec.type}@${spec.version}`;
      this.byType.set(key, spec);
      const latest = this.byType.get(spec.type);
      if (!latest || latest.version < spec.version) this.byType.set(spec.type, spec);
    }
    for (const [from, into] of Object.entries(catalogue.fits)) this.fits.set(from, new Set(into));
  }

  get(type: string, version?: number): NodeTypePublic | undefined {
    return (version !== undefined ? this.byType.get(`${type}@${version}`) : undefined) ?? this.byType.get(type);
  }

  /** Whether a value of port type `from` may feed an input port of type `into`. */
  fitsInto(from: string, into: string): boolean {
    if (from === "any" || into === "any") return true;
    return this.fits.get(from)?.has(into) ?? from === into;
  }

  /** The catalogue's node types grouped by category, filtered by a search over type/title/description. */
  groups(search: string): Array<{ category: string; nodes: NodeTypePublic[] }> {
    const words = search.toLowerCase().split(/\s+/).filter(Boolean);
    const groups = new Map<string, NodeTypePublic[]>();
    const seen = new Set<string>();
    for (const spec of this.catalogue.nodes) {
      if (seen.has(spec.type)) continue;
      seen.add(spec.type);
      const latest = this.get(spec.type) ?? spec;
      const hay = `${latest.type} ${latest.title} ${latest.description} ${latest.category}`.toLowerCase();
      if (!words.every((w) => hay.includes(w))) continue;
      const list = groups.get(latest.category) ?? [];
      list.push(latest);
      groups.set(latest.category, list);
    }
    return [...groups.entries()]
      .sort(([a], [b]) => categoryRank(a) - categoryRank(b) || a.localeCompare(b))
      .map(([category, nodes]) => ({ category, nodes: nodes.sort((a, b) => a.title.localeCompare(b.title)) }));
  }
}

function categoryRank(category: string): number {
  return category.startsWith("trigger") ? 0 : 1;
}

/**
 * The ports a node shows: the catalogue's, plus outputs derived from its params
 * (`dynamic_outputs`, e.g. one per switch case) and the error port when errors are routed there.
 */
export function portsOf(node: FlowNode, spec: NodeTypePublic | undefined): PortsOf {
  if (!spec) return { inputs: [], outputs: node.on_error === "error_port" ? [ERROR_PORT] : [] };
  let outputs = spec.outputs;
  const dynamic = spec.dynamic_outputs;
  if (dynamic && typeof dynamic === "object") {
    outputs = [...dynamicPorts(node.params?.[String(dynamic.from_param)], dynamic), ...outputs];
    const extra = Array.isArray(dynamic.extra) ? dynamic.extra.map(String) : [];
    const have = new Set(outputs.map((p) => p.name));
    for (const name of extra) {
      if (!have.has(name)) outputs.push({ name, type: String(dynamic.type ?? "any"), required: false });
    }
    outputs = dedupe(outputs);
  }
  if (node.on_error === "error_port" && !outputs.some((p) => p.name === ERROR_PORT.name)) {
    outputs = [...outputs, ERROR_PORT];
  }
  return { inputs: spec.inputs, outputs };
}

function dynamicPorts(value: JsonValue | undefined, dynamic: { [key: string]: JsonValue }): PortPublic[] {
  if (!Array.isArray(value)) return [];
  const field = String(dynamic.name_field ?? "name");
  const type = String(dynamic.type ?? "any");
  const ports: PortPublic[] = [];
  for (const item of value) {
    const name = typeof item === "string" ? item : item && typeof item === "object" && !Array.isArray(item) ? item[field] : null;
    if (typeof name === "string" && name) ports.push({ name, type, required: false });
  }
  return ports;
}

function dedupe(ports: PortPublic[]): PortPublic[] {
  const seen = new Set<string>();
  return ports.filter((p) => (seen.has(p.name) ? false : (seen.add(p.name), true)));
}

/** Whether a node takes several edges into one input, so its join setting matters. */
export function hasJoin(spec: NodeTypePublic | undefined): boolean {
  return !!spec && (spec.inputs.some((p) => p.multi) || !!spec.join_param);
}
