// The graph view: @xyflow/react in controlled mode over the store's document. xyflow's changes
// come back as store actions (moves, selection); nothing of the document is kept here.
import {
  ControlButton,
  Controls,
  MiniMap,
  ReactFlow,
  useReactFlow,
  type Connection,
  type EdgeChange,
  type NodeChange,
  type NodeTypes,
} from "@xyflow/react";
import { DotGrid } from "./DotGrid";
import { memo, useCallback, useMemo, useRef, useState, type DragEvent } from "react";
import { EMPTY_SELECTION, isNoteCanvasId, NOTE_PREFIX, reuseIfSame, toCanvas, type CanvasEdge, type CanvasNode, type Selection } from "../flow/canvas";
import type { Position } from "../flow/types";
import { useEditorContext, useEditorState } from "./context";
import { FlowNodeView } from "./FlowNodeView";
import { NoteView } from "./NoteView";
import { NODE_DRAG_TYPE } from "./Palette";

const NODE_TYPES: NodeTypes = { flow: FlowNodeView, note: NoteView };
const FIT_VIEW_OPTIONS = { padding: 0.2, maxZoom: 1.2, minZoom: 0.5 };
const PRO_OPTIONS = { hideAttribution: true };
const STATUS_COLOURS: Record<string, string> = {
  succeeded: "#1f9d55", failed: "#d33f49", timed_out: "#d33f49", running: "#2f7fd8", retrying: "#c98a00",
};

type Dimensions = { width: number; height: number };

// Marked copies are cached per edge object and message, so equal marks keep their identity.
const markedEdges = new WeakMap<CanvasEdge, { message: string; edge: CanvasEdge }>();
function markedEdge(edge: CanvasEdge, message: string): CanvasEdge {
  const cached = markedEdges.get(edge);
  if (cached && cached.message === message) return cached.edge;
  const marked = { ...edge, className: `${edge.className ?? ""} has-problem`, label: "!", ariaLabel: message };
  markedEdges.set(edge, { message, edge: marked });
  return marked;
}

export interface CanvasProps {
  onAddAt: (type: string, at: Position) => void;
  showMinimap: boolean;
  onToggleMinimap: () => void;
}

export const Canvas = memo(function Canvas({ onAddAt, showMinimap, onToggleMinimap }: CanvasProps) {
  const { store } = useEditorContext();
  const doc = useEditorState(store, (s) => s.doc);
  const selection = useEditorState(store, (s) => s.selection);
  const problems = useEditorState(store, (s) => s.problems);
  const runNodes = useEditorState(store, (s) => s.runNodes);
  const { screenToFlowPosition } = useReactFlow();

  // xyflow measures nodes and must get the sizes back on the nodes it is given; they are kept
  // beside the document (they are view state, not flow data).
  const measured = useRef(new Map<string, Dimensions>());
  const withMeasured = useRef(new WeakMap<CanvasNode, { size: Dimensions; node: CanvasNode }>());
  const [measureTick, setMeasureTick] = useState(0);

  const view = useMemo(() => toCanvas(doc, selection), [doc, selection]);
  const nodes = useMemo(() => {
    void measureTick;
    return view.nodes.map((node) => {
      const size = measured.current.get(node.id);
      if (!size) return node;
      const cached = withMeasured.current.get(node);
      if (cached && cached.size === size) return cached.node;
      const next = { ...node, measured: size } as CanvasNode;
      withMeasured.current.set(node, { size, node: next });
      return next;
    });
  }, [view.nodes, measureTick]);
  const lastEdges = useRef<CanvasEdge[] | null>(null);
  const edges = useMemo(() => {
    const marked = !problems.byEdge.size
      ? view.edges
      : view.edges.map((edge): CanvasEdge => {
          const list = problems.byEdge.get(edge.id);
          if (!list) return edge;
          return markedEdge(edge, list.map((p) => p.message).join("; "));
        });
    lastEdges.current = reuseIfSame(lastEdges.current, marked);
    return lastEdges.current;
  }, [view.edges, problems]);

  const onNodesChange = useCallback(
    (changes: NodeChange<CanvasNode>[]) => {
      const moves = new Map<string, Position>();
      let dragEnded = false;
      let selectionChanged = false;
      const state = store.getState();
      const sel = { nodes: new Set(state.selection.nodes), edges: state.selection.edges, notes: new Set(state.selection.notes) };
      let measuredChanged = false;
      for (const change of changes) {
        if (change.type === "position") {
          if (change.position) moves.set(change.id, change.position);
          if (change.dragging === false) dragEnded = true;
        } else if (change.type === "select") {
          selectionChanged = true;
          const target = isNoteCanvasId(change.id) ? sel.notes : sel.nodes;
          const id = isNoteCanvasId(change.id) ? change.id.slice(NOTE_PREFIX.length) : change.id;
          if (change.selected) target.add(id);
          else target.delete(id);
        } else if (change.type === "dimensions" && change.dimensions) {
          if (change.resizing && isNoteCanvasId(change.id)) {
            store.updateNote(change.id.slice(NOTE_PREFIX.length), { width: Math.round(change.dimensions.width), height: Math.round(change.dimensions.height) }, { coalesce: `resize:${change.id}` });
          }
          const prev = measured.current.get(change.id);
          if (!prev || prev.width !== change.dimensions.width || prev.height !== change.dimensions.height) {
            measured.current.set(change.id, { width: change.dimensions.width, height: change.dimensions.height });
            measuredChanged = true;
          }
        }
      }
      if (moves.size) store.moveNodes(moves);
      if (dragEnded) store.endDrag();
      if (selectionChanged) store.select(sel);
      if (measuredChanged) setMeasureTick((t) => t + 1);
    },
    [store],
  );

  const onEdgesChange = useCallback(
    (changes: EdgeChange<CanvasEdge>[]) => {
      const state = store.getState();
      let edgesSel: Set<string> | null = null;
      for (const change of changes) {
        if (change.type !== "select") continue;
        edgesSel ??= new Set(state.selection.edges);
        if (change.selected) edgesSel.add(change.id);
        else edgesSel.delete(change.id);
      }
      if (edgesSel) store.select({ ...store.getState().selection, edges: edgesSel });
    },
    [store],
  );

  const onConnect = useCallback(
    (connection: Connection) => {
      const result = store.connect({
        source: connection.source,
        sourcePort: connection.sourceHandle ?? "",
        target: connection.target,
        targetPort: connection.targetHandle ?? "",
      });
      if (!result.ok) store.notify(`Connection refused: ${result.reason}`, "error");
    },
    [store],
  );

  const onDragOver = useCallback((event: DragEvent) => {
    if (event.dataTransfer.types.includes(NODE_DRAG_TYPE)) {
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
    }
  }, []);

  const onDrop = useCallback(
    (event: DragEvent) => {
      const type = event.dataTransfer.getData(NODE_DRAG_TYPE);
      if (!type) return;
      event.preventDefault();
      onAddAt(type, screenToFlowPosition({ x: event.clientX, y: event.clientY }));
    },
    [onAddAt, screenToFlowPosition],
  );

  const onPaneClick = useCallback(() => {
    const s = store.getState().selection;
    if (s.nodes.size || s.edges.size || s.notes.size) store.select(EMPTY_SELECTION);
  }, [store]);

  const minimapColour = useCallback(
    (node: CanvasNode) => (node.type === "note" ? "#f2d46b" : STATUS_COLOURS[runNodes[node.id]?.status ?? ""] ?? "#8b93a7"),
    [runNodes],
  );

  return (
    <div className="plait-canvas" data-testid="canvas" onDragOver={onDragOver} onDrop={onDrop}>
      <ReactFlow<CanvasNode, CanvasEdge>
        nodes={nodes}
        edges={edges}
        nodeTypes={NODE_TYPES}
        onNodesChange={onNodesChange}
        onEdgesChange={onEdgesChange}
        onConnect={onConnect}
        onPaneClick={onPaneClick}
        onlyRenderVisibleElements
        deleteKeyCode={null}
        selectionKeyCode="Shift"
        multiSelectionKeyCode={["Shift", "Meta", "Control"]}
        selectNodesOnDrag={false}
        fitView
        fitViewOptions={FIT_VIEW_OPTIONS}
        minZoom={0.05}
        proOptions={PRO_OPTIONS}
        defaultEdgeOptions={{ interactionWidth: 16 }}
      >
        <DotGrid />
        {showMinimap && <MiniMap pannable zoomable nodeColor={minimapColour} ariaLabel="Mini map" />}
        <Controls position="top-left" showInteractive={false}>
          <ControlButton onClick={onToggleMinimap} title={showMinimap ? "Hide the mini map (M)" : "Show the mini map (M)"}
            aria-label={showMinimap ? "Hide the mini map" : "Show the mini map"} aria-pressed={showMinimap}>
            ▦
          </ControlButton>
        </Controls>
      </ReactFlow>
    </div>
  );
});

export type { Selection };
