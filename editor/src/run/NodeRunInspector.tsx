// The selected node in the shown run: how it went and the data it saw.
import { useEffect, useState } from "react";
import { durationMs, formatDuration, isRunLive, type NodeRunView } from "../flow/runState";
import type { JsonValue } from "../flow/types";
import { JsonBlock } from "./JsonBlock";
import type { RunSession } from "./useRunSession";
import "./run.css";

export const STATUS_LABEL: { [status: string]: string } = {
  pending: "Pending",
  running: "Running",
  suspended: "Waiting",
  retrying: "Retrying",
  succeeded: "Succeeded",
  failed: "Failed",
  timed_out: "Timed out",
  cancelled: "Cancelled",
  skipped: "Skipped",
  abandoned: "Abandoned",
};

function clock(ms: number | null): string {
  if (ms === null) return "–";
  const date = new Date(ms);
  const time = date.toLocaleTimeString(undefined, { hour12: false });
  return `${time}.${String(date.getMilliseconds()).padStart(3, "0")}`;
}

function useNow(ticking: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!ticking) return;
    const timer = window.setInterval(() => setNow(Date.now()), 250);
    return () => clearInterval(timer);
  }, [ticking]);
  return now;
}

function ErrorBox({ node }: { node: NodeRunView }) {
  const error = node.error;
  if (!error) return null;
  const kind = typeof error.kind === "string" ? error.kind : "error";
  const text = typeof error.message === "string" ? error.message : JSON.stringify(error);
  const traceback = typeof error.traceback === "string" ? error.traceback : null;
  const { traceback: _traceback, kind: _kind, message: _message, ...rest } = error;
  return (
    <div className="run-error" role="alert" aria-label="Node error">
      <div className="run-error-head">
        <span className="run-error-kind">{kind}</span>
        {node.status === "retrying" && <span className="small">attempt {node.attempts} failed; retrying</span>}
        {node.routed && node.routed !== "stop" && (
          <span className="small">{node.routed === "error_port" ? "sent to the error port" : "ignored"}</span>
        )}
      </div>
      <p className="run-error-message">{text}</p>
      {Object.keys(rest).length > 0 && <JsonBlock title="Details" value={rest as JsonValue} open={false} />}
      {traceback && (
        <details className="run-json">
          <summary>Traceback</summary>
          <pre>{traceback}</pre>
        </details>
      )}
    </div>
  );
}

export function NodeRunInspector({ session, nodeId }: { session: RunSession; nodeId: string }) {
  const run = session.run;
  const node = run?.nodes[nodeId];
  const ticking = node?.status === "running" || node?.status === "retrying" || node?.status === "suspended";
  const now = useNow(ticking);

  if (!run) {
    return (
      <div className="run-inspector run-empty" data-testid="node-run-inspector">
        <p>Run the flow to see this node's data.</p>
        <p className="muted small">Ctrl+Enter runs it with the input from the toolbar.</p>
      </div>
    );
  }
  if (!node) {
    return (
      <div className="run-inspector run-empty" data-testid="node-run-inspector">
        <p>
          {isRunLive(run.status) ? "This node has not been reached yet." : "This node was not part of the shown run."}
        </p>
        <p className="muted small">Run the flow to see this node's data.</p>
      </div>
    );
  }
  const duration = durationMs(node.startedAt, node.finishedAt, now);
  return (
    <div className="run-inspector" data-testid="node-run-inspector" data-status={node.status}>
      <div className="run-inspector-head">
        <span className={`run-badge run-badge-${node.status}`} data-status={node.status}>
          {STATUS_LABEL[node.status] ?? node.status}
        </span>
        {node.seeded ? (
          <span className="run-badge run-badge-pinned" title="Its outputs were pinned from an earlier run; it did not run">
            pinned
          </span>
        ) : (
          <span className="muted small" data-testid="node-attempts">
            {node.attempts === 1 ? "1 attempt" : `${node.attempts} attempts`}
          </span>
        )}
      </div>
      <dl className="run-facts">
        <dt>Started</dt>
        <dd>{clock(node.startedAt)}</dd>
        <dt>Finished</dt>
        <dd>{clock(node.finishedAt)}</dd>
        <dt>Duration</dt>
        <dd>{formatDuration(duration)}</dd>
        {node.reason && (
          <>
            <dt>Why</dt>
            <dd>{node.reason}</dd>
          </>
        )}
        {node.waitingFor && (
          <>
            <dt>Waiting for</dt>
            <dd>{node.waitingFor}</dd>
          </>
        )}
        {node.status === "retrying" && node.retryDelayS != null && (
          <>
            <dt>Next attempt</dt>
            <dd>in {formatDuration(node.retryDelayS * 1000)}</dd>
          </>
        )}
      </dl>
      <ErrorBox node={node} />
      <JsonBlock
        title="Inputs"
        value={node.inputs ?? undefined}
        empty={node.inputs === null && node.attempts > 0 ? "shown when the run ends" : "nothing"}
      />
      <JsonBlock title="Outputs" value={node.outputs ?? undefined} />
      {node.logs && node.logs.length > 0 && <JsonBlock title="Log" value={node.logs} open={false} />}
    </div>
  );
}
