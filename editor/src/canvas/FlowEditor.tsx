// The flow editor page (`#/flows/<id>`): header, palette, canvas, side panel, problems. It loads
// the flow and the catalogue, owns the store, autosave and validation, and composes the running
// work's toolbar, inspector and live status.
import { ReactFlowProvider, useReactFlow } from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import "./canvas.css";
import { useCallback, useEffect, useMemo, useState, useSyncExternalStore } from "react";
import { flowsRead, flowsUpdate, flowsValidate, nodesList, type FlowPublic } from "../api/generated";
import { ApiError } from "../api/http";
import { href } from "../app/navigation";
import { Autosaver, type SaveState } from "../flow/autosave";
import { CatalogueIndex } from "../flow/catalogue";
import { EditorStore } from "../flow/editorStore";
import { PasteError } from "../flow/clipboard";
import { freeSpot, NODE_HEIGHT, NODE_WIDTH } from "../flow/layout";
import type { FlowDocument, JsonValue, Position } from "../flow/types";
import { RunToolbar } from "../run/RunToolbar";
import { useRunSession } from "../run/useRunSession";
import { PublishDialog } from "../screens/PublishDialog";
import { Canvas } from "./Canvas";
import { EditorContext, useEditorState } from "./context";
import { ConflictDialog, ShortcutsHelp } from "./dialogs";
import { MINIMAP_KEY, minimapShown, readMinimapPreference, type MinimapPreference } from "../flow/viewPrefs";
import { Inspector } from "./Inspector";
import { Palette } from "./Palette";
import { ProblemsPanel } from "./ProblemsPanel";

/** The in-memory clipboard when the system one is refused; module-wide so it pastes across flows. */
let memoryClipboard: string | null = null;

interface Loaded {
  flow: FlowPublic;
  catalogue: CatalogueIndex;
}

export function FlowEditor({ flowId, runId }: { flowId: string; runId?: string }) {
  const [loaded, setLoaded] = useState<Loaded | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    Promise.all([flowsRead({ flow_id: flowId }), nodesList()])
      .then(([flow, catalogue]) => live && setLoaded({ flow, catalogue: new CatalogueIndex(catalogue) }))
      .catch((e: unknown) => live && setError(e instanceof ApiError && e.status === 404 ? "This flow does not exist (or was deleted)." : String(e instanceof Error ? e.message : e)));
    return () => {
      live = false;
    };
  }, [flowId]);
  if (error) {
    return (
      <div className="center-screen">
        <div className="card" role="alert">
          <h2>The flow could not be opened</h2>
          <p>{error}</p>
          <a href="#/projects">Back to projects</a>
        </div>
      </div>
    );
  }
  if (!loaded) return <div className="center-screen muted">Loading flow…</div>;
  return (
    <ReactFlowProvider>
      <Editor flowId={flowId} runId={runId} flow={loaded.flow} catalogue={loaded.catalogue} />
    </ReactFlowProvider>
  );
}

/** The flow document as the API gives it, typed. */
function asDocument(flow: FlowPublic): FlowDocument {
  return flow.document as unknown as FlowDocument;
}

const SAVE_LABEL: Record<SaveState["status"], string> = {
  saved: "Saved",
  pending: "Unsaved changes",
  saving: "Saving…",
  error: "Not saved",
  conflict: "Conflict",
};

function isTyping(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  if (!el) return false;
  return el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName);
}

function Editor({ flowId, runId, flow, catalogue }: { flowId: string; runId?: string; flow: FlowPublic; catalogue: CatalogueIndex }) {
  const store = useMemo(() => new EditorStore(asDocument(flow), catalogue), [flow, catalogue]);
  const saver = useMemo(
    () =>
      new Autosaver(store, flow.revision, async (document, revision) =>
        flowsUpdate({ flow_id: flowId }, { document: document as unknown as { [key: string]: JsonValue }, revision, name: document.name }),
      ),
    [store, flow.revision, flowId],
  );
  // Leaving the page saves what is pending rather than dropping it.
  useEffect(() => () => void saver.flush().finally(() => saver.dispose()), [saver]);
  const saveState = useSyncExternalStore(saver.subscribe, saver.getState);
  const save = useCallback(() => saver.flush(), [saver]);
  const session = useRunSession(flowId, runId, save);
  const reactFlow = useReactFlow();

  const doc = useEditorState(store, (s) => s.doc);
  const docVersion = useEditorState(store, (s) => s.docVersion);
  const selection = useEditorState(store, (s) => s.selection);
  const notice = useEditorState(store, (s) => s.notice);
  const canUndo = useEditorState(store, (s) => s.canUndo);
  const canRedo = useEditorState(store, (s) => s.canRedo);
  const selectedNodeId = useMemo(() => store.singleSelectedNode(), [store, selection]);

  const [publishing, setPublishing] = useState(false);
  const [help, setHelp] = useState(false);
  const nodeCount = useEditorState(store, (s) => s.doc.nodes.length);
  const [minimapPreference, setMinimapPreference] = useState<MinimapPreference>(() =>
    readMinimapPreference(typeof localStorage === "undefined" ? null : localStorage),
  );
  const showMinimap = minimapShown(minimapPreference, nodeCount);
  const toggleMinimap = useCallback(() => {
    const next = showMinimap ? "off" : "on";
    setMinimapPreference(next);
    try {
      localStorage.setItem(MINIMAP_KEY, next);
    } catch {
      // Storage may be full or disabled: the choice then lasts for this page only.
    }
  }, [showMinimap]);
  const [conflictBusy, setConflictBusy] = useState(false);
  const [copied, setCopied] = useState<"ok" | "manual" | null>(null);

  // The run's per-node status goes into the store, where each node reads only its own entry.
  useEffect(() => store.setRunNodes(session.run?.nodes ?? null), [store, session.run]);

  // Validation, debounced after edits; an answer for an older document is dropped.
  useEffect(() => {
    let live = true;
    const timer = setTimeout(() => {
      flowsValidate({ flow_id: flowId }, { document: store.getState().doc as unknown as { [key: string]: JsonValue } })
        .then((result) => live && store.setProblems(result.problems))
        .catch(() => undefined);
    }, docVersion === 0 ? 0 : 500);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [flowId, store, docVersion]);

  // Unsaved edits are not lost silently when the tab closes.
  useEffect(() => {
    const onBeforeUnload = (e: BeforeUnloadEvent) => {
      if (saver.dirty) e.preventDefault();
    };
    window.addEventListener("beforeunload", onBeforeUnload);
    return () => window.removeEventListener("beforeunload", onBeforeUnload);
  }, [saver]);

  useEffect(() => {
    if (!notice) return;
    const timer = setTimeout(() => store.dismissNotice(), notice.tone === "error" ? 8000 : 4000);
    return () => clearTimeout(timer);
  }, [notice, store]);

  const viewportCentre = useCallback((): Position => {
    const el = document.querySelector(".plait-canvas");
    const rect = el?.getBoundingClientRect();
    if (!rect) return { x: 0, y: 0 };
    const p = reactFlow.screenToFlowPosition({ x: rect.left + rect.width / 2, y: rect.top + rect.height / 2 });
    return freeSpot(store.getState().doc, { x: p.x - NODE_WIDTH / 2, y: p.y - NODE_HEIGHT / 2 });
  }, [reactFlow, store]);

  /**
   * Where a palette click puts a node: right of the selected node (flows read left to right, so
   * adding a trigger then its next step lines them up ready to connect), panning to show both;
   * with nothing selected, a free spot at the centre of the view.
   */
  const nextSpot = useCallback((): Position => {
    const selectedId = store.singleSelectedNode();
    const selected = selectedId ? reactFlow.getInternalNode(selectedId) : undefined;
    const rect = document.querySelector(".plait-canvas")?.getBoundingClientRect();
    if (selected && rect) {
      const { x, y } = selected.internals.positionAbsolute;
      const spot = freeSpot(store.getState().doc, { x: x + (selected.measured.width ?? NODE_WIDTH) + 80, y });
      const topLeft = reactFlow.screenToFlowPosition({ x: rect.left, y: rect.top });
      const bottomRight = reactFlow.screenToFlowPosition({ x: rect.right, y: rect.bottom });
      const inView = spot.x >= topLeft.x && spot.y >= topLeft.y && spot.x + NODE_WIDTH <= bottomRight.x && spot.y + NODE_HEIGHT <= bottomRight.y;
      if (!inView) {
        // Bring both into view: centre on the pair, zooming out only as far as needed.
        const width = spot.x + NODE_WIDTH - x;
        const zoom = Math.min(reactFlow.getZoom(), (rect.width - 80) / width);
        void reactFlow.setCenter(x + width / 2, y + NODE_HEIGHT, { zoom: Math.max(zoom, 0.4), duration: 200 });
      }
      return spot;
    }
    return viewportCentre();
  }, [reactFlow, store, viewportCentre]);

  const addAtCentre = useCallback((type: string) => store.addNode(type, nextSpot()), [store, nextSpot]);
  const addAt = useCallback((type: string, at: Position) => store.addNode(type, { x: at.x - NODE_WIDTH / 2, y: at.y - 20 }), [store]);

  const copy = useCallback(async () => {
    const text = store.copySelection();
    if (!text) return;
    memoryClipboard = text;
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // The in-memory copy still pastes within this tab.
    }
    const { nodes, notes } = store.getState().selection;
    store.notify(`Copied ${nodes.size + notes.size} item${nodes.size + notes.size === 1 ? "" : "s"} as flow JSON.`);
  }, [store]);

  const paste = useCallback(async () => {
    let text: string | null = null;
    try {
      text = await navigator.clipboard.readText();
    } catch {
      text = null;
    }
    if (!text) text = memoryClipboard;
    if (!text) {
      store.notify("Nothing to paste.", "error");
      return;
    }
    try {
      const ids = store.paste(text);
      store.notify(`Pasted ${ids.length} node${ids.length === 1 ? "" : "s"}.`);
    } catch (e) {
      store.notify(e instanceof PasteError ? e.message : `Paste failed: ${String(e)}`, "error");
    }
  }, [store]);

  const fitView = useCallback(() => void reactFlow.fitView({ padding: 0.2 }), [reactFlow]);
  const layout = useCallback(() => {
    store.autoLayout((id) => {
      const n = reactFlow.getInternalNode(id);
      return { width: n?.measured.width ?? NODE_WIDTH, height: n?.measured.height ?? NODE_HEIGHT };
    });
    requestAnimationFrame(() => fitView());
  }, [store, reactFlow, fitView]);
  const addNote = useCallback(() => {
    const c = viewportCentre();
    store.addNote(c);
  }, [store, viewportCentre]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (isTyping(e.target) || document.querySelector(".plait-modal")) return;
      const mod = e.ctrlKey || e.metaKey;
      const key = e.key.toLowerCase();
      const sel = store.getState().selection;
      const anySelected = sel.nodes.size + sel.notes.size + sel.edges.size > 0;
      // Without a canvas selection, copy/delete keep their ordinary meaning for selected page text.
      if (!anySelected && ((mod && (key === "c" || key === "d")) || (!mod && (e.key === "Delete" || e.key === "Backspace")))) return;
      if (mod && key === "z" && !e.shiftKey) store.undo();
      else if (mod && ((key === "z" && e.shiftKey) || key === "y")) store.redo();
      else if (mod && key === "c") void copy();
      else if (mod && key === "v") void paste();
      else if (mod && key === "d") store.duplicateSelection();
      else if (mod && key === "a") store.selectAll();
      else if (!mod && (e.key === "Delete" || e.key === "Backspace")) store.deleteSelection();
      else if (!mod && e.shiftKey && e.code === "Digit1") fitView();
      else if (!mod && e.key === "?") setHelp(true);
      else if (!mod && !e.shiftKey && !e.altKey && key === "m") toggleMinimap();
      else if (e.key === "Escape") store.clearSelection();
      else return;
      e.preventDefault();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [store, copy, paste, fitView, toggleMinimap]);

  const reloadTheirs = useCallback(async () => {
    setConflictBusy(true);
    try {
      const fresh = await flowsRead({ flow_id: flowId });
      store.load(asDocument(fresh), { keepHistory: true });
      saver.adopt(fresh.revision);
      setCopied(null);
      store.notify(`Loaded revision ${fresh.revision} from the server.`);
    } catch (e) {
      store.notify(`Could not reload: ${e instanceof Error ? e.message : String(e)}`, "error");
    } finally {
      setConflictBusy(false);
    }
  }, [flowId, store, saver]);

  const keepMine = useCallback(async () => {
    setConflictBusy(true);
    try {
      const revision = saveState.conflictRevision ?? (await flowsRead({ flow_id: flowId })).revision;
      if (await saver.overwrite(revision)) store.notify("Your version was saved.");
      setCopied(null);
    } finally {
      setConflictBusy(false);
    }
  }, [flowId, saver, saveState.conflictRevision, store]);

  const copyMine = useCallback(async () => {
    const text = JSON.stringify(store.getState().doc, null, 2);
    memoryClipboard = text;
    try {
      await navigator.clipboard.writeText(text);
      setCopied("ok");
    } catch {
      setCopied("manual");
    }
  }, [store]);

  const context = useMemo(() => ({ store, catalogue }), [store, catalogue]);

  return (
    <EditorContext.Provider value={context}>
      <div className="plait-editor" data-testid="flow-editor">
        <header className="plait-editor-head">
          <nav aria-label="Breadcrumb" className="plait-breadcrumb">
            <a href={href({ name: "project", projectId: flow.project_id, tab: "flows" })}>← Project</a>
            <span aria-hidden>/</span>
            <FlowName name={doc.name} onRename={(name) => store.rename(name)} />
          </nav>
          <span className={`plait-save-state save-${saveState.status}`} data-testid="save-state" role="status" title={saveState.error ?? ""}>
            {SAVE_LABEL[saveState.status]}
            {saveState.status === "error" && <button className="link-button" onClick={() => void saver.flush()}>Retry</button>}
          </span>
          <div className="plait-toolbar" role="toolbar" aria-label="Canvas tools">
            <button onClick={() => store.undo()} disabled={!canUndo} title="Undo (Ctrl+Z)" aria-label="Undo">↶</button>
            <button onClick={() => store.redo()} disabled={!canRedo} title="Redo (Ctrl+Shift+Z)" aria-label="Redo">↷</button>
            <button onClick={layout} title="Arrange left to right">Auto-layout</button>
            <button onClick={fitView} title="Fit view (Shift+1)">Fit view</button>
            <button onClick={addNote} title="Add a sticky note">Add note</button>
            <button onClick={() => setHelp(true)} title="Keyboard shortcuts (?)" aria-label="Keyboard shortcuts">?</button>
          </div>
          <div className="plait-run-toolbar">
            <RunToolbar session={session} flowId={flowId} document={doc} selectedNodeId={selectedNodeId} />
          </div>
          <a className="plait-runs-link" href={href({ name: "runs", flowId })}>Run history</a>
          <button className="primary" onClick={() => void saver.flush().then(() => setPublishing(true))}>Publish</button>
        </header>
        <div className="plait-editor-body">
          <Palette catalogue={catalogue} onAdd={addAtCentre} />
          <main className="plait-editor-main">
            <Canvas onAddAt={addAt} showMinimap={showMinimap} onToggleMinimap={toggleMinimap} />
            <ProblemsPanel onFocus={(nodeId) => {
              store.select({ nodes: new Set([nodeId]), edges: new Set(), notes: new Set() });
              const n = reactFlow.getInternalNode(nodeId);
              if (n) void reactFlow.setCenter(n.internals.positionAbsolute.x + (n.measured.width ?? 0) / 2, n.internals.positionAbsolute.y + (n.measured.height ?? 0) / 2, { zoom: Math.max(reactFlow.getZoom(), 0.8), duration: 200 });
            }} />
            {notice && (
              <div className={`plait-notice ${notice.tone}`} role={notice.tone === "error" ? "alert" : "status"} data-testid="notice" key={notice.id}>
                {notice.text}
                <button className="plait-icon-button" aria-label="Dismiss" onClick={() => store.dismissNotice()}>×</button>
              </div>
            )}
          </main>
          {selectedNodeId && <Inspector key={selectedNodeId} nodeId={selectedNodeId} session={session} />}
        </div>
        {help && <ShortcutsHelp onClose={() => setHelp(false)} />}
        {saveState.status === "conflict" && (
          <ConflictDialog
            serverRevision={saveState.conflictRevision}
            onReload={() => void reloadTheirs()}
            onKeepMine={() => void keepMine()}
            onCopyMine={() => void copyMine()}
            copied={copied}
            mine={copied === "manual" ? JSON.stringify(doc, null, 2) : ""}
            busy={conflictBusy}
          />
        )}
        {publishing && <PublishDialog flowId={flowId} projectId={flow.project_id} onClose={() => setPublishing(false)} />}
      </div>
    </EditorContext.Provider>
  );
}

/** The flow's name, renamed in place: click, type, Enter (Escape cancels). */
function FlowName({ name, onRename }: { name: string; onRename: (name: string) => void }) {
  const [draft, setDraft] = useState<string | null>(null);
  if (draft === null) {
    return (
      <button className="plait-flow-name" onClick={() => setDraft(name)} title="Rename the flow" data-testid="flow-name">
        {name}
      </button>
    );
  }
  const commit = () => {
    onRename(draft);
    setDraft(null);
  };
  return (
    <input
      className="plait-flow-name-input"
      aria-label="Flow name"
      autoFocus
      value={draft}
      onChange={(e) => setDraft(e.target.value)}
      onBlur={commit}
      onKeyDown={(e) => {
        if (e.key === "Enter") commit();
        if (e.key === "Escape") setDraft(null);
      }}
    />
  );
}
