"""A run's state as an explicit state machine, changed only by applying events.

``rebuild(events)`` restores a run's state after a crash; the executor uses the same
``apply`` for every event it writes, so live state and rebuilt state cannot drift.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from . import events as ev
from .events import RunEvent


class NodeStatus(StrEnum):
    # Hash as the plain string (C speed, and equal to hashing the value): Enum's own
    # __hash__ is Python code, and status-in-set checks sit on the engine's hot path.
    __hash__ = str.__hash__

    PENDING = "pending"
    RUNNING = "running"
    SUSPENDED = "suspended"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"
    ABANDONED = "abandoned"


NODE_TERMINAL = frozenset(
    {
        NodeStatus.SUCCEEDED,
        NodeStatus.FAILED,
        NodeStatus.TIMED_OUT,
        NodeStatus.CANCELLED,
        NodeStatus.SKIPPED,
        NodeStatus.ABANDONED,
    }
)


class RunStatus(StrEnum):
    __hash__ = str.__hash__

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"


RUN_TERMINAL = frozenset(
    {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.CANCELLED}
)


class InvalidTransition(Exception):
    pass


class NodeRecord:
    """One node's state in one run."""

    __slots__ = ("attempt", "error", "finished_at", "outputs", "routed", "started_at", "status")

    def __init__(self) -> None:
        self.status = NodeStatus.PENDING
        self.attempt = 0
        self.outputs: dict[str, Any] | None = None
        self.error: dict[str, Any] | None = None
        # How a failure was handled: stop | continue | error_port (None when no failure).
        self.routed: str | None = None
        self.started_at: float | None = None
        self.finished_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": str(self.status), "attempts": self.attempt}
        if self.error is not None:
            out["error"] = self.error
        if self.started_at is not None:
            out["started_at"] = self.started_at
        if self.finished_at is not None:
            out["finished_at"] = self.finished_at
        return out


_NODE_TARGET = {
    ev.NODE_STARTED: NodeStatus.RUNNING,
    ev.NODE_SUCCEEDED: NodeStatus.SUCCEEDED,
    ev.NODE_SEEDED: NodeStatus.SUCCEEDED,
    ev.NODE_FAILED: NodeStatus.FAILED,
    ev.NODE_TIMED_OUT: NodeStatus.TIMED_OUT,
    ev.NODE_CANCELLED: NodeStatus.CANCELLED,
    ev.NODE_SKIPPED: NodeStatus.SKIPPED,
    ev.NODE_ABANDONED: NodeStatus.ABANDONED,
    ev.NODE_SUSPENDED: NodeStatus.SUSPENDED,
    ev.NODE_RESUMED: NodeStatus.RUNNING,
}

# Which node statuses each event may leave from. A node restarted after a crash gets a
# second node.started while it is still running or suspended.
_ALLOWED_FROM = {
    ev.NODE_STARTED: {NodeStatus.PENDING, NodeStatus.RUNNING, NodeStatus.SUSPENDED},
    # A node may end while suspended: its attempt timed out, or it stopped waiting itself.
    ev.NODE_SUCCEEDED: {NodeStatus.RUNNING, NodeStatus.SUSPENDED},
    ev.NODE_SEEDED: {NodeStatus.PENDING},
    ev.NODE_FAILED: {NodeStatus.RUNNING, NodeStatus.SUSPENDED},
    ev.NODE_TIMED_OUT: {NodeStatus.RUNNING, NodeStatus.SUSPENDED},
    ev.NODE_CANCELLED: {NodeStatus.PENDING, NodeStatus.RUNNING, NodeStatus.SUSPENDED},
    ev.NODE_SKIPPED: {NodeStatus.PENDING},
    ev.NODE_ABANDONED: {NodeStatus.PENDING},
    ev.NODE_SUSPENDED: {NodeStatus.RUNNING},
    ev.NODE_RESUMED: {NodeStatus.SUSPENDED, NodeStatus.RUNNING},
}

_RUN_TARGET = {
    ev.RUN_SUCCEEDED: RunStatus.SUCCEEDED,
    ev.RUN_FAILED: RunStatus.FAILED,
    ev.RUN_TIMED_OUT: RunStatus.TIMED_OUT,
    ev.RUN_CANCELLED: RunStatus.CANCELLED,
}


class RunState:
    """The fold of a run's events."""

    def __init__(self, run_id: str, node_ids: Iterable[str] = ()) -> None:
        self.run_id = run_id
        self.status = RunStatus.PENDING
        self.seq = 0
        self.nodes: dict[str, NodeRecord] = {n: NodeRecord() for n in node_ids}
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.payload: Any = None
        self.trigger: str | None = None
        self.bundle_id: str | None = None
        self.error: dict[str, Any] | None = None
        # Replay log for suspension and service calls: (node_id, key) -> event data.
        self.replay: dict[tuple[str, str], dict[str, Any]] = {}

    def node(self, node_id: str) -> NodeRecord:
        rec = self.nodes.get(node_id)
        if rec is None:
            rec = self.nodes[node_id] = NodeRecord()
        return rec

    def apply(self, event: RunEvent) -> None:
        """Change state by one event; events out of order or illegal transitions raise."""
        if event.seq != self.seq + 1:
            raise InvalidTransition(f"event seq {event.seq} after {self.seq} in run {self.run_id}")
        self.seq = event.seq
        etype = event.type
        target = _NODE_TARGET.get(etype)
        if target is not None:
            self._apply_node(event, target)
            return
        data = event.data
        if etype == ev.RUN_STARTED:
            if self.status is not RunStatus.PENDING:
                raise InvalidTransition(f"run {self.run_id} started twice")
            self.status = RunStatus.RUNNING
            self.started_at = event.ts
            self.payload = data.get("payload")
            self.trigger = data.get("trigger")
            self.bundle_id = data.get("bundle_id")
            for node_id in data.get("nodes", ()):
                self.node(node_id)
        elif etype in _RUN_TARGET:
            if self.status in RUN_TERMINAL:
                raise InvalidTransition(f"run {self.run_id} already {self.status}")
            self.status = _RUN_TARGET[etype]
            self.finished_at = event.ts
            self.error = data.get("error")
        elif etype == ev.NODE_RETRYING:
            rec = self.node(event.node_id or "")
            rec.error = data.get("error")
        elif etype in (ev.STEP_SUCCEEDED, ev.STEP_FAILED):
            self.replay[(data["caller"], f"step:{data['call']}")] = {"type": etype, **data}
        # node.log, step.started: informational, no state change.

    def _apply_node(self, event: RunEvent, target: NodeStatus) -> None:
        node_id = event.node_id
        if node_id is None:
            raise InvalidTransition(f"{event.type} without a node id")
        rec = self.node(node_id)
        if rec.status not in _ALLOWED_FROM[event.type]:
            raise InvalidTransition(f"node {node_id!r}: {event.type} while {rec.status}")
        data = event.data
        rec.status = target
        etype = event.type
        if etype == ev.NODE_STARTED:
            rec.attempt = data.get("attempt", rec.attempt + 1)
            if rec.started_at is None:
                rec.started_at = event.ts
            return
        if etype == ev.NODE_SUSPENDED:
            self.replay[(node_id, f"suspend:{data['call']}")] = dict(data)
            return
        if etype == ev.NODE_RESUMED:
            self.replay[(node_id, f"resume:{data['call']}")] = dict(data)
            return
        rec.finished_at = event.ts
        if etype in (ev.NODE_SUCCEEDED, ev.NODE_SEEDED):
            rec.outputs = data.get("outputs", {})
            rec.error = None
        elif etype in (ev.NODE_FAILED, ev.NODE_TIMED_OUT):
            rec.error = data.get("error")
            rec.routed = data.get("routed", "stop")
            # A routed error is the node's only output, on its ``error`` port.
            rec.outputs = {"error": rec.error} if rec.routed == "error_port" else {}

    @property
    def finished(self) -> bool:
        return self.status in RUN_TERMINAL

    def summary(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": str(self.status),
            "error": self.error,
            "nodes": {nid: rec.to_dict() for nid, rec in self.nodes.items()},
        }


def rebuild(events: Iterable[RunEvent], run_id: str | None = None) -> RunState:
    """The state of a run from its events (ordered by ``seq``)."""
    ordered = sorted(events, key=lambda e: e.seq)
    state = RunState(run_id or (ordered[0].run_id if ordered else ""))
    for event in ordered:
        state.apply(event)
    return state
