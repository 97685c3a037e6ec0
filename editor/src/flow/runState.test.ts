import { describe, expect, it } from "vitest";
import {
  applyEvents, durationMs, emptyRun, formatDuration, fromDetail, isRunLive, missingSeqs,
  withDetailInputs, type RunDetailLike, type RunEvent,
} from "./runState";

const RUN = "r1";
const clock = 1_700_000_000;

function ev(seq: number, type: string, nodeId: string | null = null, data: RunEvent["data"] = {}): RunEvent {
  return { run_id: RUN, seq, type, node_id: nodeId, data, ts: clock + seq };
}

const started = ev(1, "run.started", null, { payload: { name: "Ada" }, trigger: "start", bundle_id: "b1", nodes: ["start", "greet", "shout"] });

function happyRun(): RunEvent[] {
  return [
    started,
    ev(2, "node.started", "start", { attempt: 1 }),
    ev(3, "node.succeeded", "start", { attempt: 1, outputs: { payload: { name: "Ada" } } }),
    ev(4, "node.started", "greet", { attempt: 1 }),
    ev(5, "node.succeeded", "greet", { attempt: 1, outputs: { text: "Hello Ada!" } }),
    ev(6, "node.started", "shout", { attempt: 1 }),
    ev(7, "node.succeeded", "shout", { attempt: 1, outputs: { text: "HELLO ADA!" } }),
    ev(8, "run.succeeded"),
  ];
}

describe("applyEvents", () => {
  it("starts a run with every scheduled node pending, its input and bundle", () => {
    const view = applyEvents(emptyRun(RUN), [started]);
    expect(view.status).toBe("running");
    expect(view.input).toEqual({ name: "Ada" });
    expect(view.bundleId).toBe("b1");
    expect(Object.keys(view.nodes)).toEqual(["start", "greet", "shout"]);
    expect(view.nodes.greet.status).toBe("pending");
    expect(view.startedAt).toBe((clock + 1) * 1000);
  });

  it("folds a run to success: statuses, attempts, outputs, timings", () => {
    const view = applyEvents(emptyRun(RUN), happyRun());
    expect(view.status).toBe("succeeded");
    expect(view.seq).toBe(8);
    expect(view.finishedAt).toBe((clock + 8) * 1000);
    for (const id of ["start", "greet", "shout"]) expect(view.nodes[id].status).toBe("succeeded");
    expect(view.nodes.greet.outputs).toEqual({ text: "Hello Ada!" });
    expect(view.nodes.greet.attempts).toBe(1);
    expect(view.nodes.greet.startedAt).toBe((clock + 4) * 1000);
    expect(view.nodes.greet.finishedAt).toBe((clock + 5) * 1000);
  });

  it("shows a node running between node.started and its end", () => {
    const view = applyEvents(emptyRun(RUN), happyRun().slice(0, 4));
    expect(view.nodes.greet.status).toBe("running");
    expect(view.nodes.greet.finishedAt).toBeNull();
    expect(isRunLive(view.status)).toBe(true);
  });

  it("shows retrying with the failed attempt, then the next attempt, then the failure", () => {
    const error1 = { kind: "connection", message: "refused", attempt: 1 };
    const error2 = { kind: "connection", message: "refused again", attempt: 2 };
    let view = applyEvents(emptyRun(RUN), [
      started,
      ev(2, "node.started", "greet", { attempt: 1 }),
      ev(3, "node.retrying", "greet", { attempt: 1, error: error1, delay_s: 0.5 }),
    ]);
    expect(view.nodes.greet.status).toBe("retrying");
    expect(view.nodes.greet.attempts).toBe(1);
    expect(view.nodes.greet.error).toEqual(error1);
    expect(view.nodes.greet.retryDelayS).toBe(0.5);
    view = applyEvents(view, [ev(4, "node.started", "greet", { attempt: 2 })]);
    expect(view.nodes.greet.status).toBe("running");
    expect(view.nodes.greet.attempts).toBe(2);
    expect(view.nodes.greet.startedAt).toBe((clock + 2) * 1000); // the first attempt's start
    view = applyEvents(view, [
      ev(5, "node.failed", "greet", { attempt: 2, error: error2, routed: "stop" }),
      ev(6, "node.abandoned", "shout", { reason: "an upstream node failed" }),
      ev(7, "run.failed", null, { error: error2 }),
    ]);
    expect(view.nodes.greet).toMatchObject({ status: "failed", attempts: 2, error: error2, outputs: {}, routed: "stop" });
    expect(view.nodes.shout).toMatchObject({ status: "abandoned", reason: "an upstream node failed" });
    expect(view.status).toBe("failed");
    expect(view.error).toEqual(error2);
  });

  it("gives a failure routed to the error port its error as the only output", () => {
    const error = { kind: "http_status", message: "500" };
    const view = applyEvents(emptyRun(RUN), [
      started,
      ev(2, "node.started", "greet", { attempt: 1 }),
      ev(3, "node.failed", "greet", { attempt: 1, error, routed: "error_port" }),
    ]);
    expect(view.nodes.greet.outputs).toEqual({ error });
  });

  it("times out, cancels and skips nodes", () => {
    const view = applyEvents(emptyRun(RUN), [
      started,
      ev(2, "node.started", "start", { attempt: 1 }),
      ev(3, "node.timed_out", "start", { attempt: 1, error: { kind: "timeout", message: "too slow" }, routed: "stop" }),
      ev(4, "node.skipped", "greet", { reason: "no input arrived" }),
      ev(5, "node.cancelled", "shout", { reason: "run.timed_out" }),
      ev(6, "run.timed_out", null, { error: { kind: "timeout", message: "run too slow" } }),
    ]);
    expect(view.nodes.start.status).toBe("timed_out");
    expect(view.nodes.start.error).toMatchObject({ kind: "timeout" });
    expect(view.nodes.greet).toMatchObject({ status: "skipped", reason: "no input arrived" });
    expect(view.nodes.shout).toMatchObject({ status: "cancelled", reason: "run.timed_out" });
    expect(view.status).toBe("timed_out");
  });

  it("suspends and resumes a node", () => {
    let view = applyEvents(emptyRun(RUN), [
      started,
      ev(2, "node.started", "greet", { attempt: 1 }),
      ev(3, "node.suspended", "greet", { call: "0", signal: "approve" }),
    ]);
    expect(view.nodes.greet).toMatchObject({ status: "suspended", waitingFor: "approve" });
    view = applyEvents(view, [ev(4, "node.resumed", "greet", { call: "0", payload: true })]);
    expect(view.nodes.greet).toMatchObject({ status: "running", waitingFor: null });
  });

  it("marks seeded nodes as succeeded with their pinned outputs", () => {
    const view = applyEvents(emptyRun(RUN), [
      started,
      ev(2, "node.seeded", "start", { outputs: { payload: { pinned: true } } }),
    ]);
    expect(view.nodes.start).toMatchObject({ status: "succeeded", seeded: true, outputs: { payload: { pinned: true } } });
  });

  it("keeps a node's log lines and ignores unknown and step events", () => {
    const view = applyEvents(emptyRun(RUN), [
      started,
      ev(2, "node.log", "greet", { message: "one" }),
      ev(3, "node.log", "greet", { message: "two" }),
      ev(4, "step.started", "greet", { call: "0" }),
      ev(5, "node.something_new", "greet"),
      ev(6, "node.log", null, { message: "run resumed" }),
    ]);
    expect(view.nodes.greet.logs).toEqual(["one", "two"]);
    expect(view.nodes.greet.status).toBe("pending");
    expect(view.seq).toBe(6);
  });

  it("drops duplicate events, within a batch and across batches", () => {
    const events = happyRun();
    const once = applyEvents(emptyRun(RUN), events);
    const twice = applyEvents(applyEvents(emptyRun(RUN), [...events.slice(0, 5), ...events.slice(2, 5)]), events);
    expect(twice.nodes).toEqual(once.nodes);
    expect(twice.events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(applyEvents(once, events.slice(3))).toBe(once); // nothing new: the same object
  });

  it("folds events given out of order as if in order", () => {
    const events = happyRun();
    const inOrder = applyEvents(emptyRun(RUN), events);
    const shuffled = applyEvents(emptyRun(RUN), [events[4], events[7], events[0], events[2], events[6], events[1], events[5], events[3]]);
    expect(shuffled.nodes).toEqual(inOrder.nodes);
    expect(shuffled.status).toBe("succeeded");
  });

  it("re-folds when a late event fills a gap, so a late start does not undo a success", () => {
    const events = happyRun();
    const withGap = applyEvents(emptyRun(RUN), [events[0], events[1], events[2], events[4]]);
    // node.succeeded of greet (seq 5) arrived without its node.started (seq 4).
    expect(withGap.nodes.greet.status).toBe("succeeded");
    expect(missingSeqs(withGap)).toEqual([4]);
    const filled = applyEvents(withGap, [events[3]]);
    expect(filled.nodes.greet.status).toBe("succeeded");
    expect(filled.nodes.greet.startedAt).toBe((clock + 4) * 1000);
    expect(missingSeqs(filled)).toEqual([]);
  });

  it("ignores events of another run", () => {
    const view = applyEvents(emptyRun(RUN), [{ ...started, run_id: "other" }]);
    expect(view.status).toBe("pending");
  });
});

const detail: RunDetailLike = {
  id: RUN,
  status: "running",
  input: { name: "Ada" },
  error: null,
  started_at: "2026-11-22T10:00:00Z",
  finished_at: null,
  nodes: {
    start: {
      status: "succeeded", attempts: 1, inputs: {}, outputs: { payload: { name: "Ada" } }, error: null,
      started_at: "2026-11-22T10:00:00Z", finished_at: "2026-11-22T10:00:01Z",
    },
    greet: {
      status: "running", attempts: 1, inputs: { input: { name: "Ada" } }, outputs: null, error: null,
      started_at: "2026-11-22T10:00:01Z", finished_at: null,
    },
  },
};

describe("fromDetail", () => {
  it("builds a view from a RunDetail", () => {
    const view = fromDetail(detail);
    expect(view.runId).toBe(RUN);
    expect(view.status).toBe("running");
    expect(view.input).toEqual({ name: "Ada" });
    expect(view.nodes.start).toMatchObject({ status: "succeeded", attempts: 1, outputs: { payload: { name: "Ada" } } });
    expect(view.nodes.greet.inputs).toEqual({ input: { name: "Ada" } });
    expect(view.nodes.start.finishedAt! - view.nodes.start.startedAt!).toBe(1000);
    expect(view.startedAt).toBe(Date.parse("2026-11-22T10:00:00Z"));
  });

  it("calls a queued run pending and keeps unknown statuses drawable", () => {
    const view = fromDetail({ ...detail, status: "queued", nodes: { x: { ...detail.nodes.start, status: "weird" } } });
    expect(view.status).toBe("pending");
    expect(view.nodes.x.status).toBe("pending");
  });

  it("folds the live events of a running run over its detail", () => {
    const view = applyEvents(fromDetail(detail), happyRun());
    expect(view.status).toBe("succeeded");
    expect(view.nodes.greet.status).toBe("succeeded");
    // Inputs come only from the detail; the events keep them.
    expect(view.nodes.greet.inputs).toEqual({ input: { name: "Ada" } });
  });

  it("adds a later detail's inputs to an event-built view", () => {
    const view = withDetailInputs(applyEvents(emptyRun(RUN), happyRun()), detail);
    expect(view.nodes.greet.inputs).toEqual({ input: { name: "Ada" } });
    expect(view.nodes.greet.outputs).toEqual({ text: "Hello Ada!" });
    expect(withDetailInputs(view, { ...detail, id: "other" })).toBe(view);
  });
});

describe("durations", () => {
  it("measures to now while running and formats for people", () => {
    expect(durationMs(1000, null, 3500)).toBe(2500);
    expect(durationMs(1000, 1200, 9999)).toBe(200);
    expect(durationMs(null, null, 5)).toBeNull();
    expect(formatDuration(200)).toBe("200 ms");
    expect(formatDuration(2500)).toBe("2.5 s");
    expect(formatDuration(125_000)).toBe("2 min 5 s");
    expect(formatDuration(null)).toBe("–");
  });
});
