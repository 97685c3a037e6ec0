// The side panel for the one selected node: Settings (id, title, params, retry, timeout,
// on_error, join) and Run (the running work's inspector).
import { memo, useEffect, useMemo, useState, type ReactNode } from "react";
import { hasJoin } from "../flow/catalogue";
import type { EditorStore } from "../flow/editorStore";
import type { ExpressionScope } from "../flow/expressions";
import { fieldsOf } from "../flow/paramsForm";
import { fieldProblems } from "../flow/problems";
import type { RunView } from "../flow/runState";
import type { FlowNode, JoinMode, JsonValue, OnError } from "../flow/types";
import { NodeRunInspector } from "../run/NodeRunInspector";
import type { RunSession } from "../run/useRunSession";
import { useEditorContext, useEditorState } from "./context";
import { ParamsForm } from "./ParamsForm";

export function Inspector({ nodeId, session }: { nodeId: string; session: RunSession }) {
  const { store, catalogue } = useEditorContext();
  const node = useEditorState(store, () => store.node(nodeId));
  const problems = useEditorState(store, (s) => s.problems);
  const [tab, setTab] = useState<"settings" | "run">("settings");
  const spec = node ? catalogue.get(node.type, node.version) : undefined;
  const fields = useMemo(() => (spec ? fieldsOf(spec.params_schema) : []), [spec]);
  const scope = useMemo(() => scopeFor(nodeId, session.run, store), [nodeId, session.run, store]);
  if (!node) return null;
  const nodeProblems = problems.byNode.get(nodeId) ?? [];
  const general = nodeProblems.filter((p) => !p.field || p.edge_id);

  return (
    <aside className="plait-inspector" aria-label="Node settings" data-testid="inspector">
      <div className="plait-tabs" role="tablist">
        <button role="tab" aria-selected={tab === "settings"} onClick={() => setTab("settings")}>Settings</button>
        <button role="tab" aria-selected={tab === "run"} onClick={() => setTab("run")}>Run</button>
      </div>
      {tab === "run" ? (
        <div role="tabpanel" className="plait-inspector-body">
          <NodeRunInspector session={session} nodeId={nodeId} />
          {!session.run && <p className="muted small">No run yet. Start one from the toolbar to see this node's data.</p>}
        </div>
      ) : (
        <div role="tabpanel" className="plait-inspector-body">
          <header className="plait-inspector-head">
            <strong>{spec?.title ?? node.type}</strong>
            <span className="muted small">{node.type} v{node.version ?? spec?.version ?? 1}</span>
            {spec?.description && <p className="muted small plait-description" title={plainText(spec.description)}>{withCode(spec.description)}</p>}
          </header>
          {general.length > 0 && (
            <ul className="plait-field-problems" data-testid="node-problems">
              {general.map((p, i) => <li key={i} className={p.severity === "warning" ? "warning" : "error"}>{p.message}</li>)}
            </ul>
          )}
          <IdField store={store} nodeId={nodeId} />
          <div className="plait-field">
            <label>
              <span className="plait-field-label">Title</span>
              <input
                data-testid="node-title"
                value={node.title ?? ""}
                placeholder={spec?.title ?? ""}
                onChange={(e) => store.updateNode(nodeId, { title: e.target.value || undefined }, { coalesce: `title:${nodeId}` })}
                onBlur={() => store.sealHistory()}
              />
            </label>
          </div>
          <h4>Parameters</h4>
          <ParamsForm store={store} nodeId={nodeId} fields={fields} params={node.params} problems={problems} scope={scope} />
          <NodeSettings store={store} node={node} join={hasJoin(spec)} joinParam={spec?.join_param ?? null} problems={problems} />
        </div>
      )}
    </aside>
  );
}

/** A catalogue description (docstring markup: ``code`` or `code`) with its code spans drawn as code. */
function withCode(text: string): ReactNode[] {
  return text.split(/``(.+?)``|`([^`]+)`/g).map((part, i) => {
    if (i % 3 === 0) return part;
    return part === undefined ? null : <code key={i}>{part}</code>;
  });
}

function plainText(text: string): string {
  return text.replace(/``(.+?)``/g, "$1").replace(/`([^`]+)`/g, "$1");
}

/** The node id, renamed on Enter/blur (edges follow); refused ids say why. */
function IdField({ store, nodeId }: { store: EditorStore; nodeId: string }) {
  const [draft, setDraft] = useState(nodeId);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    setDraft(nodeId);
    setError(null);
  }, [nodeId]);
  const commit = () => {
    if (draft === nodeId) return;
    const reason = store.renameNodeId(nodeId, draft);
    setError(reason);
  };
  return (
    <div className={`plait-field${error ? " invalid" : ""}`}>
      <label>
        <span className="plait-field-label">Id</span>
        <input
          data-testid="node-id"
          value={draft}
          onChange={(e) => setDraft(e.target.value)}
          onBlur={commit}
          onKeyDown={(e) => e.key === "Enter" && commit()}
        />
      </label>
      {error && <ul className="plait-field-problems"><li className="error">{error}</li></ul>}
    </div>
  );
}

const NodeSettings = memo(function NodeSettings({ store, node, join, joinParam, problems }: { store: EditorStore; node: FlowNode; join: boolean; joinParam: string | null; problems: ReturnType<EditorStore["getState"]>["problems"] }) {
  const retry = node.retry ?? {};
  const setRetry = (key: "max_attempts" | "backoff" | "delay_s", value: JsonValue | undefined) => {
    const next: Record<string, unknown> = { ...retry, [key]: value };
    if (value === undefined) delete next[key];
    store.updateNode(node.id, { retry: Object.keys(next).length ? next : undefined }, { coalesce: `retry:${node.id}:${key}` });
  };
  const num = (text: string) => (text.trim() === "" ? undefined : Number(text));
  const marks = (path: string) => fieldProblems(problems, node.id, path);
  const problemList = (path: string) => {
    const list = marks(path);
    return list.length ? <ul className="plait-field-problems">{list.map((p, i) => <li key={i} className="error">{p.message}</li>)}</ul> : null;
  };
  return (
    <section className="plait-node-settings" aria-label="Execution settings">
      <h4>Execution</h4>
      <div className="plait-row">
        <label>
          Attempts
          <input data-testid="retry-max_attempts" type="number" min={1} max={100} value={retry.max_attempts ?? ""} placeholder="1" onChange={(e) => setRetry("max_attempts", num(e.target.value))} />
        </label>
        <label>
          Backoff
          <select data-testid="retry-backoff" value={retry.backoff ?? ""} onChange={(e) => setRetry("backoff", e.target.value || undefined)}>
            <option value="">default</option>
            <option value="fixed">fixed</option>
            <option value="exponential">exponential</option>
          </select>
        </label>
        <label>
          Delay (s)
          <input data-testid="retry-delay_s" type="number" min={0} step="any" value={retry.delay_s ?? ""} placeholder="1" onChange={(e) => setRetry("delay_s", num(e.target.value))} />
        </label>
      </div>
      {problemList("retry")}
      <label>
        Timeout (s)
        <input
          data-testid="timeout_s"
          type="number"
          min={0}
          step="any"
          value={node.timeout_s ?? ""}
          placeholder="none"
          onChange={(e) => store.updateNode(node.id, { timeout_s: num(e.target.value) }, { coalesce: `timeout:${node.id}` })}
        />
      </label>
      {problemList("timeout_s")}
      <label>
        On error
        <select data-testid="on_error" value={node.on_error ?? "stop"} onChange={(e) => store.updateNode(node.id, { on_error: e.target.value === "stop" ? undefined : (e.target.value as OnError) })}>
          <option value="stop">stop the run</option>
          <option value="continue">continue</option>
          <option value="error_port">send to the error port</option>
        </select>
      </label>
      {join && (
        <label>
          Join
          <select data-testid="join" value={node.join ?? "all"} onChange={(e) => store.updateNode(node.id, { join: e.target.value === "all" ? undefined : (e.target.value as JoinMode) })}>
            <option value="all">all: wait for every branch</option>
            <option value="any">any: the first value</option>
            <option value="first">first: first value, cancel the rest</option>
          </select>
          {joinParam && <span className="plait-field-help">The '{joinParam}' parameter sets the same; if both are set they must agree.</span>}
        </label>
      )}
      {problemList("join")}
    </section>
  );
});

/** What expressions of this node read in the last run: its inputs, the trigger's and the nodes' outputs. */
function scopeFor(nodeId: string, run: RunView | null, store: EditorStore): ExpressionScope | null {
  if (!run) return null;
  const nodes: NonNullable<ExpressionScope["nodes"]> = {};
  let trigger: ExpressionScope["trigger"] = null;
  const catalogue = store.getCatalogue();
  for (const [id, view] of Object.entries(run.nodes)) {
    if (view.outputs && view.status === "succeeded") {
      nodes[id] = view.outputs;
      const node = store.node(id);
      if (!trigger && node && catalogue?.get(node.type)?.trigger) trigger = view.outputs;
    }
  }
  return { inputs: run.nodes[nodeId]?.inputs ?? null, trigger, nodes };
}
