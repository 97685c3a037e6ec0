// The editor's one store: the document, the selection, undo history, validation problems and
// the run's per-node status. Every edit is an action here; React reads it through
// `useSyncExternalStore` (see ../canvas/useEditor.ts) and never keeps its own copy.
import type { NodeRunView } from "./runState";
import { EMPTY_SELECTION, type Selection } from "./canvas";
import { type CatalogueIndex } from "./catalogue";
import { copyText, parseFragment, pasteFragment } from "./clipboard";
import { checkConnection, type ConnectionCheck, type ConnectionRequest } from "./connections";
import { History } from "./history";
import { newId, newNodeId } from "./ids";
import { autoLayout } from "./layout";
import { notesOf, withNotes } from "./notes";
import { indexProblems, NO_PROBLEMS, type Problem, type ProblemIndex } from "./problems";
import { setParam } from "./paramsForm";
import type { FlowDocument, FlowNode, JsonValue, Position, StickyNote } from "./types";

export interface Notice {
  id: number;
  text: string;
  tone: "info" | "error";
}

export interface EditorState {
  doc: FlowDocument;
  /** Goes up with every change of `doc`, so autosave and validation know what they have sent. */
  docVersion: number;
  selection: Selection;
  problems: ProblemIndex;
  canUndo: boolean;
  canRedo: boolean;
  runNodes: { [nodeId: string]: NodeRunView };
  notice: Notice | null;
}

type Listener = () => void;

export interface EditOptions {
  /** Edits with the same key in quick succession are one undo step (drags, typing). */
  coalesce?: string;
}

const EMPTY_RUN: { [nodeId: string]: NodeRunView } = {};

export class EditorStore {
  private state: EditorState;
  private readonly listeners = new Set<Listener>();
  private readonly history: History<FlowDocument>;
  private catalogue: CatalogueIndex | null;
  private nodeIndex: { nodes: FlowNode[]; byId: Map<string, FlowNode> } | null = null;
  private noticeSeq = 0;
  private readonly now: () => number;

  constructor(doc: FlowDocument, catalogue: CatalogueIndex | null = null, options: { historyLimit?: number; now?: () => number } = {}) {
    this.catalogue = catalogue;
    this.now = options.now ?? Date.now;
    this.history = new History({ limit: options.historyLimit ?? 200, coalesceMs: 1000 });
    this.state = {
      doc,
      docVersion: 0,
      selection: EMPTY_SELECTION,
      problems: NO_PROBLEMS,
      canUndo: false,
      canRedo: false,
      runNodes: EMPTY_RUN,
      notice: null,
    };
  }

  // --- reading -------------------------------------------------------------------------------

  getState = (): EditorState => this.state;

  subscribe = (listener: Listener): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  setCatalogue(catalogue: CatalogueIndex): void {
    this.catalogue = catalogue;
  }

  getCatalogue(): CatalogueIndex | null {
    return this.catalogue;
  }

  /** The document's nodes by id, rebuilt only when the node list changes. */
  nodeById(): Map<string, FlowNode> {
    const nodes = this.state.doc.nodes;
    if (this.nodeIndex?.nodes !== nodes) this.nodeIndex = { nodes, byId: new Map(nodes.map((n) => [n.id, n])) };
    return this.nodeIndex.byId;
  }

  node(id: string): FlowNode | undefined {
    return this.nodeById().get(id);
  }

  /** The id of the one selected node, or null with none or several. */
  singleSelectedNode(): string | null {
    const { nodes, notes, edges } = this.state.selection;
    if (nodes.size !== 1 || notes.size || edges.size) return null;
    return nodes.values().next().value ?? null;
  }

  private set(patch: Partial<EditorState>): void {
    this.state = { ...this.state, ...patch };
    for (const listener of [...this.listeners]) listener();
  }

  // --- document edits ------------------------------------------------------------------------

  /** Replaces the document as one undoable edit (or not recorded, for loads). */
  private commit(doc: FlowDocument, options: EditOptions & { record?: boolean; selection?: Selection } = {}): void {
    if (doc === this.state.doc) return;
    if (options.record !== false) this.history.record(this.state.doc, options.coalesce ?? null, this.now());
    this.set({
      doc,
      docVersion: this.state.docVersion + 1,
      canUndo: this.history.canUndo,
      canRedo: this.history.canRedo,
      selection: options.selection ?? pruneSelection(this.state.selection, doc),
    });
  }

  /** A document from the server: no undo step, and the history starts over. */
  load(doc: FlowDocument, options: { keepHistory?: boolean } = {}): void {
    if (!options.keepHistory) this.history.clear();
    this.commit(doc, { record: false });
    this.set({ canUndo: this.history.canUndo, canRedo: this.history.canRedo });
  }

  replaceDocument(doc: FlowDocument, options: EditOptions = {}): void {
    this.commit(doc, options);
  }

  private mapNodes(ids: ReadonlySet<string>, change: (node: FlowNode) => FlowNode): FlowDocument {
    return { ...this.state.doc, nodes: this.state.doc.nodes.map((n) => (ids.has(n.id) ? change(n) : n)) };
  }

  addNode(type: string, position: Position, extra: Partial<FlowNode> = {}): string {
    const taken = new Set(this.nodeById().keys());
    const id = newNodeId(type, taken);
    const spec = this.catalogue?.get(type);
    const node: FlowNode = { id, type, position: roundPosition(position), ...extra };
    if (spec) node.version = spec.version;
    const doc = { ...this.state.doc, nodes: [...this.state.doc.nodes, node] };
    this.commit(doc, { selection: { nodes: new Set([id]), edges: new Set(), notes: new Set() } });
    return id;
  }

  updateNode(id: string, patch: Partial<FlowNode>, options: EditOptions = {}): void {
    if (!this.node(id)) return;
    this.commit(
      this.mapNodes(new Set([id]), (n) => {
        const next: FlowNode = { ...n, ...patch };
        for (const [key, value] of Object.entries(patch)) {
          if (value === undefined) delete (next as unknown as Record<string, unknown>)[key];
        }
        return next;
      }),
      options,
    );
  }

  /** Sets (`undefined`: removes) a param at a path inside `params`. */
  setNodeParam(id: string, path: string[], value: JsonValue | undefined, options: EditOptions = {}): void {
    const node = this.node(id);
    if (!node) return;
    const params = setParam(node.params, path, value);
    this.updateNode(id, { params: Object.keys(params).length ? params : undefined }, options);
  }

  /** Renames a node's id, rewriting the edges that name it. Returns a reason when refused. */
  renameNodeId(id: string, newIdValue: string): string | null {
    const next = newIdValue.trim();
    if (next === id) return null;
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,199}$/.test(next)) return "An id is letters, digits and _, starting with a letter.";
    if (this.node(next)) return `There is already a node '${next}'.`;
    const doc = this.state.doc;
    const selection = { ...this.state.selection, nodes: new Set([next]) };
    this.commit(
      {
        ...doc,
        nodes: doc.nodes.map((n) => (n.id === id ? { ...n, id: next } : n)),
        edges: doc.edges.map((e) =>
          e.source === id || e.target === id
            ? { ...e, source: e.source === id ? next : e.source, target: e.target === id ? next : e.target }
            : e,
        ),
      },
      { selection },
    );
    return null;
  }

  /** Positions from a drag: one undo step per drag (call `endDrag` when it stops). */
  moveNodes(positions: Map<string, Position>, options: EditOptions = {}): void {
    if (!positions.size) return;
    const ids = new Set<string>();
    const noteMoves = new Map<string, Position>();
    for (const [id, position] of positions) {
      if (id.startsWith("note:")) noteMoves.set(id.slice(5), position);
      else ids.add(id);
    }
    let doc = ids.size ? this.mapNodes(ids, (n) => ({ ...n, position: roundPosition(positions.get(n.id)!) })) : this.state.doc;
    if (noteMoves.size) {
      doc = withNotes(doc, notesOf(doc).map((note) => (noteMoves.has(note.id) ? { ...note, position: roundPosition(noteMoves.get(note.id)!) } : note)));
    }
    this.commit(doc, { coalesce: options.coalesce ?? `move:${[...positions.keys()].sort().join(",")}` });
  }

  endDrag(): void {
    this.history.seal();
  }

  /** Seals the current coalescing run (e.g. when a text field loses focus). */
  sealHistory(): void {
    this.history.seal();
  }

  connect(request: ConnectionRequest): ConnectionCheck {
    if (!this.catalogue) return { ok: false, reason: "The node catalogue is still loading." };
    const check = checkConnection(this.state.doc, this.catalogue, request, this.nodeById());
    if (!check.ok) return check;
    const id = newId("e", new Set(this.state.doc.edges.map((e) => e.id)));
    const edge = { id, source: request.source, source_port: request.sourcePort, target: request.target, target_port: request.targetPort, ...(check.kind !== "data" ? { kind: check.kind } : {}) };
    this.commit({ ...this.state.doc, edges: [...this.state.doc.edges, edge] });
    return check;
  }

  deleteSelection(): void {
    const { nodes, edges, notes } = this.state.selection;
    if (!nodes.size && !edges.size && !notes.size) return;
    const doc = this.state.doc;
    let next: FlowDocument = {
      ...doc,
      nodes: doc.nodes.filter((n) => !nodes.has(n.id)),
      edges: doc.edges.filter((e) => !edges.has(e.id) && !nodes.has(e.source) && !nodes.has(e.target)),
    };
    if (notes.size) next = withNotes(next, notesOf(doc).filter((n) => !notes.has(n.id)));
    this.commit(next, { selection: EMPTY_SELECTION });
  }

  deleteEdges(ids: Iterable<string>): void {
    const drop = new Set(ids);
    if (!drop.size) return;
    this.commit({ ...this.state.doc, edges: this.state.doc.edges.filter((e) => !drop.has(e.id)) });
  }

  // --- selection -----------------------------------------------------------------------------

  select(selection: Selection): void {
    this.set({ selection });
  }

  selectAll(): void {
    const doc = this.state.doc;
    this.select({
      nodes: new Set(doc.nodes.map((n) => n.id)),
      edges: new Set(doc.edges.map((e) => e.id)),
      notes: new Set(notesOf(doc).map((n) => n.id)),
    });
  }

  clearSelection(): void {
    this.select(EMPTY_SELECTION);
  }

  // --- clipboard, duplicate, layout --------------------------------------------------------------

  /** The selection as flow JSON text, or null when nothing is selected. */
  copySelection(): string | null {
    const { nodes, notes } = this.state.selection;
    if (!nodes.size && !notes.size) return null;
    return copyText(this.state.doc, nodes, notes);
  }

  /** Pastes flow JSON text; throws `PasteError` for text that is not a flow fragment. */
  paste(text: string, at?: Position): string[] {
    const fragment = parseFragment(text);
    const pasted = pasteFragment(this.state.doc, fragment, at ? { at } : {});
    this.commit(pasted.doc, { selection: { nodes: new Set(pasted.nodeIds), edges: new Set(), notes: new Set(pasted.noteIds) } });
    return pasted.nodeIds;
  }

  duplicateSelection(): string[] {
    const text = this.copySelection();
    return text ? this.paste(text) : [];
  }

  autoLayout(size?: (id: string) => { width: number; height: number }): void {
    this.commit(autoLayout(this.state.doc, size));
  }

  // --- notes and name ------------------------------------------------------------------------

  addNote(position: Position, text = ""): string {
    const notes = notesOf(this.state.doc);
    const id = newId("note", new Set(notes.map((n) => n.id)));
    this.commit(withNotes(this.state.doc, [...notes, { id, text, position: roundPosition(position), width: 220, height: 140 }]), {
      selection: { nodes: new Set(), edges: new Set(), notes: new Set([id]) },
    });
    return id;
  }

  updateNote(id: string, patch: Partial<Omit<StickyNote, "id">>, options: EditOptions = {}): void {
    const notes = notesOf(this.state.doc);
    if (!notes.some((n) => n.id === id)) return;
    this.commit(withNotes(this.state.doc, notes.map((n) => (n.id === id ? { ...n, ...patch } : n))), options);
  }

  deleteNote(id: string): void {
    this.commit(withNotes(this.state.doc, notesOf(this.state.doc).filter((n) => n.id !== id)));
  }

  rename(name: string): void {
    const trimmed = name.trim();
    if (!trimmed || trimmed === this.state.doc.name) return;
    this.commit({ ...this.state.doc, name: trimmed });
  }

  // --- history -------------------------------------------------------------------------------

  undo(): void {
    const previous = this.history.undo(this.state.doc);
    if (previous) this.commit(previous, { record: false });
    this.set({ canUndo: this.history.canUndo, canRedo: this.history.canRedo });
  }

  redo(): void {
    const next = this.history.redo(this.state.doc);
    if (next) this.commit(next, { record: false });
    this.set({ canUndo: this.history.canUndo, canRedo: this.history.canRedo });
  }

  // --- what others tell the canvas -------------------------------------------------------------

  setProblems(problems: Problem[]): void {
    this.set({ problems: indexProblems(problems) });
  }

  /** The run's per-node views; nodes whose view did not change keep theirs, so they don't redraw. */
  setRunNodes(nodes: { [nodeId: string]: NodeRunView } | null): void {
    this.set({ runNodes: nodes ?? EMPTY_RUN });
  }

  notify(text: string, tone: Notice["tone"] = "info"): void {
    this.set({ notice: { id: ++this.noticeSeq, text, tone } });
  }

  dismissNotice(): void {
    if (this.state.notice) this.set({ notice: null });
  }
}

function roundPosition(p: Position): Position {
  return { x: Math.round(p.x * 10) / 10, y: Math.round(p.y * 10) / 10 };
}

function pruneSelection(selection: Selection, doc: FlowDocument): Selection {
  if (!selection.nodes.size && !selection.edges.size && !selection.notes.size) return selection;
  const nodeIds = new Set(doc.nodes.map((n) => n.id));
  const edgeIds = new Set(doc.edges.map((e) => e.id));
  const noteIds = new Set(notesOf(doc).map((n) => n.id));
  const keep = <T,>(set: ReadonlySet<T>, has: Set<T>) => {
    for (const v of set) if (!has.has(v)) return new Set([...set].filter((x) => has.has(x)));
    return set;
  };
  const nodes = keep(selection.nodes, nodeIds);
  const edges = keep(selection.edges, edgeIds);
  const notes = keep(selection.notes, noteIds);
  return nodes === selection.nodes && edges === selection.edges && notes === selection.notes ? selection : { nodes, edges, notes };
}
