// Between the flow document and @xyflow/react's nodes and edges. The document is the truth; the
// canvas view is derived from it. Handle ids equal port names; node data holds only serialisable
// values. Derived nodes are cached per document node object, so an edit that touches one node
// gives every other canvas node back unchanged (React.memo then skips them).
import type { Edge, Node } from "@xyflow/react";
import { notesOf, withNotes } from "./notes";
import type { EdgeKind, FlowDocument, FlowEdge, FlowNode, StickyNote } from "./types";

export const NOTE_PREFIX = "note:";

export interface FlowNodeData extends Record<string, unknown> {
  type: string;
  version?: number;
  title: string | null;
}

export interface NoteData extends Record<string, unknown> {
  text: string;
  color: string | null;
}

export type CanvasNode = Node<FlowNodeData, "flow"> | Node<NoteData, "note">;
export interface FlowEdgeData extends Record<string, unknown> {
  kind: EdgeKind;
}
export type CanvasEdge = Edge<FlowEdgeData>;

export interface Selection {
  nodes: ReadonlySet<string>;
  edges: ReadonlySet<string>;
  notes: ReadonlySet<string>;
}

export const EMPTY_SELECTION: Selection = { nodes: new Set(), edges: new Set(), notes: new Set() };

export function noteCanvasId(noteId: string): string {
  return NOTE_PREFIX + noteId;
}

export function isNoteCanvasId(id: string): boolean {
  return id.startsWith(NOTE_PREFIX);
}

const nodeCache = new WeakMap<FlowNode, { selected: boolean; node: CanvasNode }>();
const edgeCache = new WeakMap<FlowEdge, { selected: boolean; edge: CanvasEdge }>();
const noteCache = new Map<string, { note: StickyNote; selected: boolean; node: CanvasNode }>();

export function toCanvasNode(node: FlowNode, selected: boolean): CanvasNode {
  const cached = nodeCache.get(node);
  if (cached && cached.selected === selected) return cached.node;
  const canvasNode: CanvasNode = {
    id: node.id,
    type: "flow",
    position: { x: node.position?.x ?? 0, y: node.position?.y ?? 0 },
    data: { type: node.type, version: node.version, title: node.title ?? null },
    selected,
  };
  nodeCache.set(node, { selected, node: canvasNode });
  return canvasNode;
}

function sameNote(a: StickyNote, b: StickyNote): boolean {
  return a.text === b.text && a.position.x === b.position.x && a.position.y === b.position.y &&
    a.width === b.width && a.height === b.height && a.color === b.color;
}

export function toCanvasNote(note: StickyNote, selected: boolean): CanvasNode {
  const cached = noteCache.get(note.id);
  if (cached && cached.selected === selected && sameNote(cached.note, note)) return cached.node;
  const canvasNode: CanvasNode = {
    id: noteCanvasId(note.id),
    type: "note",
    position: { ...note.position },
    data: { text: note.text, color: note.color ?? null },
    selected,
    width: note.width ?? 220,
    height: note.height ?? 140,
    zIndex: -1,
  };
  noteCache.set(note.id, { note, selected, node: canvasNode });
  return canvasNode;
}

export function toCanvasEdge(edge: FlowEdge, selected: boolean): CanvasEdge {
  const cached = edgeCache.get(edge);
  if (cached && cached.selected === selected) return cached.edge;
  const kind = edge.kind ?? "data";
  const canvasEdge: CanvasEdge = {
    id: edge.id,
    source: edge.source,
    sourceHandle: edge.source_port,
    target: edge.target,
    targetHandle: edge.target_port,
    data: { kind },
    selected,
    className: kind === "data" ? undefined : `service-edge service-${kind}`,
  };
  edgeCache.set(edge, { selected, edge: canvasEdge });
  return canvasEdge;
}

/**
 * `next` when any item differs from `previous` (by identity), else `previous` itself. xyflow
 * rebuilds its connection lookup whenever the edges array changes identity; a node drag must
 * not hand it a fresh but equal array on every mouse move.
 */
export function reuseIfSame<T>(previous: readonly T[] | null, next: T[]): T[] {
  if (!previous || previous.length !== next.length) return next;
  for (let i = 0; i < next.length; i++) if (previous[i] !== next[i]) return next;
  return previous as T[];
}

/** The canvas view of a document: notes first so they sit beneath the nodes. */
export function toCanvas(doc: FlowDocument, selection: Selection = EMPTY_SELECTION): { nodes: CanvasNode[]; edges: CanvasEdge[] } {
  const nodes: CanvasNode[] = [];
  for (const note of notesOf(doc)) nodes.push(toCanvasNote(note, selection.notes.has(note.id)));
  for (const node of doc.nodes) nodes.push(toCanvasNode(node, selection.nodes.has(node.id)));
  const edges = doc.edges.map((edge) => toCanvasEdge(edge, selection.edges.has(edge.id)));
  return { nodes, edges };
}

/**
 * The document the canvas shows, from `base` (which keeps what the canvas does not carry:
 * params, retry, …): positions, titles and notes come from the canvas nodes, edges from the
 * canvas edges.
 */
export function fromCanvas(base: FlowDocument, nodes: CanvasNode[], edges: CanvasEdge[]): FlowDocument {
  const byId = new Map(base.nodes.map((n) => [n.id, n]));
  const flowNodes: FlowNode[] = [];
  const notes: StickyNote[] = [];
  for (const canvasNode of nodes) {
    if (canvasNode.type === "note") {
      const data = canvasNode.data as NoteData;
      const note: StickyNote = {
        id: canvasNode.id.slice(NOTE_PREFIX.length),
        text: data.text,
        position: { x: canvasNode.position.x, y: canvasNode.position.y },
      };
      if (canvasNode.width !== undefined) note.width = canvasNode.width;
      if (canvasNode.height !== undefined) note.height = canvasNode.height;
      if (data.color) note.color = data.color;
      notes.push(note);
      continue;
    }
    const data = canvasNode.data as FlowNodeData;
    const prev = byId.get(canvasNode.id);
    const node: FlowNode = { ...(prev ?? { id: canvasNode.id, type: data.type }), position: { x: canvasNode.position.x, y: canvasNode.position.y } };
    if (data.version !== undefined) node.version = data.version;
    if (data.title) node.title = data.title;
    else delete node.title;
    flowNodes.push(node);
  }
  const baseEdges = new Map(base.edges.map((e) => [e.id, e]));
  const flowEdges: FlowEdge[] = edges.map((e) => {
    const edge: FlowEdge = {
      id: e.id,
      source: e.source,
      source_port: e.sourceHandle ?? "",
      target: e.target,
      target_port: e.targetHandle ?? "",
    };
    const kind = e.data?.kind;
    if (kind && (kind !== "data" || baseEdges.get(e.id)?.kind)) edge.kind = kind;
    return edge;
  });
  return withNotes({ ...base, nodes: flowNodes, edges: flowEdges }, notes);
}
