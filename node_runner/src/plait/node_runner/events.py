"""Run events and the stores that keep them.

A run's state is a fold over its append-only events (see ``state.py``). Stores buffer
appends and make them durable on ``flush`` (group commit): the engine flushes before
anything that depends on the events is acknowledged, and around non-idempotent nodes.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

# Event types.
RUN_STARTED = "run.started"
RUN_SUCCEEDED = "run.succeeded"
RUN_FAILED = "run.failed"
RUN_TIMED_OUT = "run.timed_out"
RUN_CANCELLED = "run.cancelled"
NODE_STARTED = "node.started"
NODE_SUCCEEDED = "node.succeeded"
NODE_RETRYING = "node.retrying"
NODE_FAILED = "node.failed"
NODE_TIMED_OUT = "node.timed_out"
NODE_CANCELLED = "node.cancelled"
NODE_SKIPPED = "node.skipped"
NODE_ABANDONED = "node.abandoned"
NODE_SUSPENDED = "node.suspended"
NODE_RESUMED = "node.resumed"
NODE_SEEDED = "node.seeded"
NODE_LOG = "node.log"
STEP_STARTED = "step.started"
STEP_SUCCEEDED = "step.succeeded"
STEP_FAILED = "step.failed"
STEP_RETRYING = "step.retrying"

RUN_TERMINAL_EVENTS = frozenset({RUN_SUCCEEDED, RUN_FAILED, RUN_TIMED_OUT, RUN_CANCELLED})


class RunEvent:
    """One event of one run. ``seq`` orders a run's events from 1 with no gaps."""

    __slots__ = ("data", "node_id", "run_id", "seq", "ts", "type")

    def __init__(
        self,
        run_id: str,
        seq: int,
        type: str,
        node_id: str | None = None,
        data: dict[str, Any] | None = None,
        ts: float | None = None,
    ) -> None:
        self.run_id = run_id
        self.seq = seq
        self.type = type
        self.node_id = node_id
        self.data = data if data is not None else {}
        self.ts = ts if ts is not None else time.time()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"run_id": self.run_id, "seq": self.seq, "type": self.type}
        if self.node_id is not None:
            out["node_id"] = self.node_id
        if self.data:
            out["data"] = self.data
        out["ts"] = self.ts
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunEvent:
        return cls(d["run_id"], d["seq"], d["type"], d.get("node_id"), d.get("data"), d.get("ts"))

    def __repr__(self) -> str:
        return f"RunEvent({self.seq}, {self.type!r}, node={self.node_id!r})"


@runtime_checkable
class EventStore(Protocol):
    """Append-only storage of run events."""

    def append(self, event: RunEvent) -> None:
        """Buffer one event; durable after the next ``flush``."""

    async def flush(self) -> None:
        """Make every appended event durable."""

    async def load(self, run_id: str) -> list[RunEvent]:
        """Every durable event of a run, in ``seq`` order."""
        ...


def _line(event: RunEvent) -> bytes:
    text = json.dumps(event.to_dict(), ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode() + b"\n"
    except UnicodeEncodeError:  # a lone surrogate in a payload: escape it, stay valid UTF-8
        return json.dumps(event.to_dict(), separators=(",", ":")).encode() + b"\n"


class InMemoryEventStore:
    """Events in memory; ``flush`` is free. Listeners see each event as it is appended."""

    def __init__(self) -> None:
        self._runs: dict[str, list[RunEvent]] = defaultdict(list)
        self.listeners: list[Any] = []

    def append(self, event: RunEvent) -> None:
        self._runs[event.run_id].append(event)
        for listener in self.listeners:
            listener(event)

    async def flush(self) -> None:
        return None

    async def load(self, run_id: str) -> list[RunEvent]:
        return list(self._runs.get(run_id, ()))

    def events(self, run_id: str) -> list[RunEvent]:
        return list(self._runs.get(run_id, ()))


class JsonlEventStore:
    """Events as JSON lines appended to one file; ``flush`` writes the buffer and fsyncs.

    A crash can leave a torn last line; ``load`` ignores it (those events were never
    acknowledged as durable).
    """

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = True) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self._tail_checked = False
        self._buffer: list[RunEvent] = []
        self._lock = threading.Lock()
        self.flushes = 0
        self.listeners: list[Any] = []

    def append(self, event: RunEvent) -> None:
        self._buffer.append(event)
        for listener in self.listeners:
            listener(event)

    async def flush(self) -> None:
        self.flush_sync()

    def flush_sync(self) -> None:
        if not self._buffer:
            return
        with self._lock:
            batch, self._buffer = self._buffer, []
            data = b"".join(_line(e) for e in batch)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self._tail_checked:
                self._drop_torn_tail()
            with open(self.path, "ab") as fh:
                fh.write(data)
                fh.flush()
                if self.fsync:
                    os.fsync(fh.fileno())
            self.flushes += 1

    def _drop_torn_tail(self) -> None:
        """Cut a partial last line left by a crash, so new lines do not glue onto it."""
        self._tail_checked = True
        try:
            with open(self.path, "rb+") as fh:
                size = fh.seek(0, os.SEEK_END)
                if size == 0:
                    return
                fh.seek(size - 1)
                if fh.read(1) == b"\n":
                    return
                # Walk back to the last newline; everything after it was never durable.
                pos = size
                while pos > 0:
                    step = min(65536, pos)
                    fh.seek(pos - step)
                    chunk = fh.read(step)
                    cut = chunk.rfind(b"\n")
                    if cut >= 0:
                        fh.truncate(pos - step + cut + 1)
                        return
                    pos -= step
                fh.truncate(0)
        except FileNotFoundError:
            return

    async def load(self, run_id: str) -> list[RunEvent]:
        return [e for e in self.read_all() if e.run_id == run_id]

    def _read(self) -> list[RunEvent]:
        """Events in file order, up to a torn or unreadable line."""
        if not self.path.exists():
            return []
        out = []
        with open(self.path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if not line.endswith("\n"):
                    break  # torn write at a crash
                try:
                    out.append(RunEvent.from_dict(json.loads(line)))
                except (ValueError, KeyError):
                    break
        return out

    def read_all(self) -> list[RunEvent]:
        """Every event, ordered by run and ``seq``."""
        return sorted(self._read(), key=lambda e: (e.run_id, e.seq))

    def run_ids(self) -> list[str]:
        """Run ids in the order their first event was written."""
        return list(dict.fromkeys(e.run_id for e in self._read()))
