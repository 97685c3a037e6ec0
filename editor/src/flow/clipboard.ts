// Copy and paste as flow JSON text: what is copied is a valid flow document fragment
// (`{schema_version: 1, name, nodes, edges}`), so it pastes into another flow, another tab, or a
// text file. Pasting gives fresh ids and offset positions, and drops edges whose ends were not
// part of the paste.
import { newId, newNodeId } from "./ids";
import { notesOf, withNotes } from "./notes";
import type { FlowDocument, FlowEdge, FlowNode, StickyNote } from "./types";

export const PASTE_OFFSET = 40;

export function copyFragment(doc: FlowDocument, nodeIds: Iterable<string>, noteIds: Iterable<string> = []): FlowDocument {
  const keep = new Set(nodeIds);
  const keepNotes = new Set(noteIds);
  const nodes = doc.nodes.filter((n) => keep.has(n.id));
  const edges = doc.edges.filter((e) => keep.has(e.source) && keep.has(e.target));
  const fragment: FlowDocument = { schema_version: 1, name: doc.name, nodes: structuredClone(nodes), edges: structuredClone(edges) };
  const notes = notesOf(doc).filter((n) => keepNotes.has(n.id));
  return notes.length ? withNotes(fragment, structuredClone(notes)) : fragment;
}

export function copyText(doc: FlowDocument, nodeIds: Iterable<string>, noteIds: Iterable<string> = []): string {
  return JSON.stringify(copyFragment(doc, nodeIds, noteIds), null, 2);
}

export class PasteError extends Error {}

/** Reads clipboard text as a flow fragment; throws `PasteError` with a readable reason. */
export function parseFragment(text: string): FlowDocument {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new PasteError("The clipboard does not hold Plait nodes (it is not JSON).");
  }
  if (!data || typeof data !== "object" || Array.isArray(data)) {
    throw new PasteError("The clipboard does not hold Plait nodes (expected a flow document).");
  }
  const doc = data as Partial<FlowDocument>;
  if (doc.schema_version !== 1 || !Array.isArray(doc.nodes)) {
    throw new PasteError("The clipboard does not hold Plait nodes (no schema_version 1 and nodes list).");
  }
  for (const node of doc.nodes) {
    if (!node || typeof node !== "object" || typeof node.id !== "string" || typeof node.type !== "string") {
      throw new PasteError("The clipboard's nodes need an id and a type.");
    }
  }
  const edges = Array.isArray(doc.edges) ? doc.edges.filter(isEdge) : [];
  return { schema_version: 1, name: String(doc.name ?? ""), nodes: doc.nodes, edges, meta: doc.meta };
}

function isEdge(e: unknown): e is FlowEdge {
  if (!e || typeof e !== "object") return false;
  const edge = e as Record<string, unknown>;
  return ["id", "source", "source_port", "target", "target_port"].every((k) => typeof edge[k] === "string");
}

export interface Pasted {
  doc: FlowDocument;
  nodeIds: string[];
  noteIds: string[];
}

/** Adds a fragment to `doc` with fresh ids, moved by `offset` (or so its top-left lands at `at`). */
export function pasteFragment(
  doc: FlowDocument,
  fragment: FlowDocument,
  placement: { offset?: number; at?: { x: number; y: number } } = {},
): Pasted {
  const takenNodes = new Set(doc.nodes.map((n) => n.id));
  const takenEdges = new Set(doc.edges.map((e) => e.id));
  const existingNotes = notesOf(doc);
  const takenNotes = new Set(existingNotes.map((n) => n.id));
  const fragmentNotes = notesOf(fragment);
  let dx = placement.offset ?? PASTE_OFFSET;
  let dy = dx;
  if (placement.at) {
    const xs = [...fragment.nodes.map((n) => n.position?.x ?? 0), ...fragmentNotes.map((n) => n.position.x)];
    const ys = [...fragment.nodes.map((n) => n.position?.y ?? 0), ...fragmentNotes.map((n) => n.position.y)];
    dx = placement.at.x - (xs.length ? Math.min(...xs) : 0);
    dy = placement.at.y - (ys.length ? Math.min(...ys) : 0);
  }
  const rename = new Map<string, string>();
  const nodes: FlowNode[] = fragment.nodes.map((node) => {
    const id = newNodeId(node.type, takenNodes);
    takenNodes.add(id);
    rename.set(node.id, id);
    const copy: FlowNode = structuredClone(node);
    copy.id = id;
    copy.position = { x: (node.position?.x ?? 0) + dx, y: (node.position?.y ?? 0) + dy };
    return copy;
  });
  const edges: FlowEdge[] = [];
  for (const edge of fragment.edges) {
    const source = rename.get(edge.source);
    const target = rename.get(edge.target);
    if (!source || !target) continue;
    const id = newId("e", takenEdges);
    takenEdges.add(id);
    edges.push({ ...edge, id, source, target });
  }
  const notes: StickyNote[] = fragmentNotes.map((note) => {
    const id = newId("note", takenNotes);
    takenNotes.add(id);
    return { ...note, id, position: { x: note.position.x + dx, y: note.position.y + dy } };
  });
  let next: FlowDocument = { ...doc, nodes: [...doc.nodes, ...nodes], edges: [...doc.edges, ...edges] };
  if (notes.length) next = withNotes(next, [...existingNotes, ...notes]);
  return { doc: next, nodeIds: nodes.map((n) => n.id), noteIds: notes.map((n) => n.id) };
}
