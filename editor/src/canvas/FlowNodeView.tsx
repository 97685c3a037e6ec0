import { Handle, Position, type NodeProps, type Node } from "@xyflow/react";
import { memo, useMemo } from "react";
import { portsOf } from "../flow/catalogue";
import type { FlowNodeData } from "../flow/canvas";
import { worstSeverity } from "../flow/problems";
import { useEditorContext, useEditorState } from "./context";

const STATUS_ICON: Record<string, string> = {
  pending: "…", running: "▶", suspended: "⏸", retrying: "↻", succeeded: "✓", failed: "✕",
  timed_out: "⏱", cancelled: "⊘", skipped: "↷", abandoned: "–",
};

/** One flow node: title and type, inputs on the left, outputs on the right (handle id = port). */
export const FlowNodeView = memo(function FlowNodeView({ id, data, selected }: NodeProps<Node<FlowNodeData, "flow">>) {
  const { store, catalogue } = useEditorContext();
  const node = useEditorState(store, () => store.node(id));
  const run = useEditorState(store, (s) => s.runNodes[id]);
  const problems = useEditorState(store, (s) => s.problems.byNode.get(id));
  const spec = catalogue.get(data.type, data.version);
  const params = node?.params;
  const onError = node?.on_error;
  const ports = useMemo(() => portsOf({ id, type: data.type, params, on_error: onError }, spec), [id, data.type, params, onError, spec]);
  const severity = worstSeverity(problems);
  const rows = Math.max(ports.inputs.length, ports.outputs.length);
  const classes = ["plait-node", selected ? "selected" : "", severity ? `has-${severity}` : "", spec ? "" : "unknown-type", spec?.trigger ? "trigger" : ""];

  return (
    <div
      className={classes.filter(Boolean).join(" ")}
      data-testid={`node-${id}`}
      data-node-id={id}
      data-status={run?.status}
      role="group"
      aria-label={`Node ${data.title || spec?.title || data.type} (${id})`}
    >
      <div className="plait-node-head">
        <span className="plait-node-icon" aria-hidden>{spec?.trigger ? "⚡" : categoryIcon(spec?.category)}</span>
        <span className="plait-node-title">{data.title || spec?.title || data.type}</span>
        {run && (
          <span className={`plait-node-status status-${run.status}`} title={run.status} data-testid="node-status">
            {STATUS_ICON[run.status] ?? "•"}
          </span>
        )}
        {run && run.attempts > 1 && <span className="plait-node-attempts" title={`${run.attempts} attempts`}>×{run.attempts}</span>}
        {severity && (
          <span
            className={`plait-node-problem ${severity}`}
            data-testid="node-problem"
            title={problems!.map((p) => p.message).join("\n")}
            role="img"
            aria-label={`${problems!.length} problem${problems!.length > 1 ? "s" : ""}`}
          >
            {severity === "error" ? "!" : "⚠"}{problems!.length > 1 ? problems!.length : ""}
          </span>
        )}
      </div>
      <div className="plait-node-sub">
        <code>{id}</code> · {data.type}
      </div>
      <div className="plait-node-ports" style={{ minHeight: rows * 22 }}>
        <div className="plait-ports in">
          {ports.inputs.map((port) => (
            <div key={port.name} className="plait-port in" title={`${port.name}: ${port.type}${port.multi ? " (many)" : ""}${port.service ? ` (${port.service} service)` : ""}`}>
              <Handle type="target" position={Position.Left} id={port.name} className={`port-${port.type}${port.service ? " service" : ""}${port.multi ? " multi" : ""}`} data-testid={`in-${id}-${port.name}`} />
              <span>{port.name}</span>
            </div>
          ))}
        </div>
        <div className="plait-ports out">
          {ports.outputs.map((port) => (
            <div key={port.name} className={`plait-port out${port.name === "error" ? " error-port" : ""}`} title={`${port.name}: ${port.type}`}>
              <span>{port.name}</span>
              <Handle type="source" position={Position.Right} id={port.name} className={`port-${port.type}${port.service ? " service" : ""}`} data-testid={`out-${id}-${port.name}`} />
            </div>
          ))}
        </div>
      </div>
      {!spec && <div className="plait-node-unknown">Unknown node type</div>}
    </div>
  );
});

function categoryIcon(category: string | undefined): string {
  switch (category) {
    case "control": return "⑂";
    case "data": return "{}";
    case "http": return "⇄";
    case "util": return "⚙";
    case "ai": return "✦";
    default: return "◆";
  }
}
