// Auto-layout, left to right, with dagre. Only positions change; notes stay where they are.
import dagre from "@dagrejs/dagre";
import type { FlowDocument } from "./types";

export const NODE_WIDTH = 200;
export const NODE_HEIGHT = 90;

export function autoLayout(
  doc: FlowDocument,
  size: (id: string) => { width: number; height: number } = () => ({ width: NODE_WIDTH, height: NODE_HEIGHT }),
): FlowDocument {
  if (!doc.nodes.length) return doc;
  const graph = new dagre.graphlib.Graph();
  graph.setGraph({ rankdir: "LR", nodesep: 40, ranksep: 90, marginx: 20, marginy: 20 });
  graph.setDefaultEdgeLabel(() => ({}));
  for (const node of doc.nodes) graph.setNode(node.id, { ...size(node.id) });
  for (const edge of doc.edges) {
    if (graph.hasNode(edge.source) && graph.hasNode(edge.target)) graph.setEdge(edge.source, edge.target);
  }
  dagre.layout(graph);
  return {
    ...doc,
    nodes: doc.nodes.map((node) => {
      const placed = graph.node(node.id);
      const { width, height } = size(node.id);
      // dagre gives centres; the canvas positions top-left corners.
      return { ...node, position: { x: Math.round(placed.x - width / 2), y: Math.round(placed.y - height / 2) } };
    }),
  };
}

/**
 * Where a new node goes: `at` if nothing is there, else the first free slot below it (then to
 * the right), so nodes added one after another don't land on each other.
 */
export function freeSpot(
  doc: FlowDocument,
  at: { x: number; y: number },
  size: { width: number; height: number } = { width: NODE_WIDTH + 20, height: NODE_HEIGHT + 20 },
): { x: number; y: number } {
  const boxes = doc.nodes.map((n) => n.position ?? { x: 0, y: 0 });
  const overlaps = (x: number, y: number) =>
    boxes.some((b) => Math.abs(b.x - x) < size.width && Math.abs(b.y - y) < size.height);
  for (let column = 0; column < 6; column++) {
    for (let row = 0; row < 8; row++) {
      const x = at.x + column * (size.width + 20);
      const y = at.y + row * (size.height + 10);
      if (!overlaps(x, y)) return { x, y };
    }
  }
  return at;
}
