"""The engine's event store over the database, with group commit.

``append`` only buffers. ``flush`` writes every buffered event — of every run in the
process — in one transaction (one bulk ``INSERT``), and concurrent ``flush`` calls share
the transaction in flight instead of each paying for their own: a caller whose events
were appended while a write was running waits for that write, then for the next one,
which carries everybody's events appended meanwhile. A ``flush`` returns only when every
event appended before it was called is committed, which is the engine's durability
contract (ARCHITECTURE.md §5).

The same transaction keeps the ``runs`` row in step with the events: ``run.started`` sets
it running, a terminal event sets its status, times, error and result, so a row never
says more or less than its durable events.

Database I/O runs in a worker thread, so the event loop keeps running nodes meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from plait.node_runner import events as ev
from plait.node_runner.events import RunEvent

from ..db.models import Base
from ..db.session import Database

log = logging.getLogger(__name__)

_EVENTS = Base.metadata.tables["run_events"]
_RUNS = Base.metadata.tables["runs"]

# Run status written for each terminal event.
TERMINAL_STATUS = {
    ev.RUN_SUCCEEDED: "succeeded",
    ev.RUN_FAILED: "failed",
    ev.RUN_TIMED_OUT: "timed_out",
    ev.RUN_CANCELLED: "cancelled",
}

# A transient database error (a dropped connection, a lock timeout) is retried this many
# times, with doubling pauses from the first, before the flush fails.
WRITE_ATTEMPTS = 5
FIRST_RETRY_PAUSE_S = 0.05


class StoreClosed(RuntimeError):
    """The store was closed (the server is stopping): nothing more becomes durable."""


def timestamp(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def read_events(
    connection: Connection, run_id: str, *, after_seq: int = 0, limit: int | None = None
) -> list[RunEvent]:
    """A run's durable events with ``seq > after_seq``, in ``seq`` order."""
    query = (
        select(_EVENTS.c.seq, _EVENTS.c.type, _EVENTS.c.node_id, _EVENTS.c.data, _EVENTS.c.ts)
        .where(_EVENTS.c.run_id == run_id, _EVENTS.c.seq > after_seq)
        .order_by(_EVENTS.c.seq)
    )
    if limit is not None:
        query = query.limit(limit)
    return [
        RunEvent(run_id, seq, type_, node_id, data, ts)
        for seq, type_, node_id, data, ts in connection.execute(query)
    ]


class DatabaseEventStore:
    """``EventStore`` over the ``run_events`` table, with group commit.

    Args:
        db: the platform's database.
        outcome: ``outcome(run_id)`` gives the result stored on the run's row when its
            terminal event is written (the dispatcher passes the run's sink outputs).
            Called on the event loop, when the batch is taken.
        on_durable: called with each committed batch, in commit order, on the event
            loop (the dispatcher publishes them as live events).
        linger_s: events nobody flushes are written this long after they were appended,
            so a long idempotent node still shows as started in the editor.
    """

    def __init__(
        self,
        db: Database,
        *,
        outcome: Callable[[str], Any] | None = None,
        on_durable: Callable[[list[RunEvent]], None] | None = None,
        linger_s: float = 0.05,
    ) -> None:
        self.db = db
        self.outcome = outcome
        self.on_durable = on_durable
        self.linger_s = linger_s
        self._buffer: list[RunEvent] = []
        # Events ever appended, and how many of them are settled (committed, or dropped
        # because their run is gone). flush() waits until settled reaches its mark.
        self._appended = 0
        self._settled = 0
        self._writer: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False
        # For tests and the benchmark: committed batches and the events in them.
        self.batches = 0
        self.events_written = 0

    # -- the EventStore protocol -------------------------------------------------------

    def append(self, event: RunEvent) -> None:
        if self._closed:
            return  # stopping: the run stays resumable from what was durable
        self._buffer.append(event)
        self._appended += 1
        if self._timer is None and self.linger_s > 0:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self.linger_s, self._on_linger)

    async def flush(self) -> None:
        mark = self._appended
        while self._settled < mark:
            if self._closed:
                raise StoreClosed("the event store is closed; the run will resume on restart")
            if self._writer is None:
                self._start_writer()
            assert self._writer is not None
            # Shielded: a cancelled caller (its run was cancelled) must not cancel the
            # write that other runs' events ride on.
            await asyncio.shield(self._writer)

    async def load(self, run_id: str) -> list[RunEvent]:
        return await asyncio.to_thread(self.load_sync, run_id)

    # -- more ----------------------------------------------------------------------------

    def load_sync(
        self, run_id: str, *, after_seq: int = 0, limit: int | None = None
    ) -> list[RunEvent]:
        """``load`` for callers already in a worker thread."""
        with self.db.engine.connect() as connection:
            return read_events(connection, run_id, after_seq=after_seq, limit=limit)

    @property
    def pending(self) -> int:
        """Events appended and not yet durable."""
        return self._appended - self._settled

    def close(self) -> None:
        """Stop making events durable: later appends are dropped and ``flush`` raises.

        Used when the server stops with runs still in flight: what those runs do after
        this is lost as in a crash, and they resume from their durable events on the next
        start. A write already in flight completes.
        """
        self._closed = True
        self._settled += len(self._buffer)
        self._buffer = []
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # -- writing -------------------------------------------------------------------------

    def _on_linger(self) -> None:
        self._timer = None
        if self._buffer and self._writer is None and not self._closed:
            self._start_writer()
        # With a write in flight, its end re-arms the timer for what is left.

    def _start_writer(self) -> None:
        task = asyncio.get_running_loop().create_task(self._write())
        task.add_done_callback(_log_failure)
        self._writer = task

    async def _write(self) -> None:
        batch, self._buffer = self._buffer, []
        try:
            if batch:
                rows = [
                    {
                        "run_id": e.run_id,
                        "seq": e.seq,
                        "type": e.type,
                        "node_id": e.node_id,
                        "data": e.data or None,
                        "ts": e.ts,
                    }
                    for e in batch
                ]
                changes = self._run_changes(batch)
                try:
                    dropped = await asyncio.to_thread(self._commit, rows, changes)
                except BaseException:
                    # Not durable: put the batch back in front, so a later flush retries it
                    # in order. (Cancelled only when the loop shuts down.)
                    self._buffer[:0] = batch
                    raise
                self._settled += len(batch)
                self.batches += 1
                self.events_written += len(batch) - len(dropped)
                durable = [e for e in batch if e.run_id not in dropped] if dropped else batch
                if self.on_durable is not None and durable:
                    try:
                        self.on_durable(durable)
                    except Exception:
                        log.exception("publishing run events failed")
        finally:
            self._writer = None
            if self._buffer and self._timer is None and not self._closed and self.linger_s > 0:
                self._timer = asyncio.get_running_loop().call_later(self.linger_s, self._on_linger)

    def _run_changes(self, batch: Iterable[RunEvent]) -> dict[str, dict[str, Any]]:
        """The ``runs`` columns each run's events of this batch set."""
        changes: dict[str, dict[str, Any]] = {}
        for event in batch:
            etype = event.type
            if etype == ev.RUN_STARTED:
                changes.setdefault(event.run_id, {}).update(
                    status="running", started_at=timestamp(event.ts)
                )
            elif etype in TERMINAL_STATUS:
                result = self.outcome(event.run_id) if self.outcome is not None else None
                changes.setdefault(event.run_id, {}).update(
                    status=TERMINAL_STATUS[etype],
                    finished_at=timestamp(event.ts),
                    error=event.data.get("error"),
                    result=result,
                )
        return changes

    def _commit(self, rows: list[dict[str, Any]], changes: dict[str, dict[str, Any]]) -> set[str]:
        """Write one batch in one transaction; returns the runs whose events were dropped.

        A run deleted meanwhile (its flow was deleted) would fail the whole batch on its
        foreign key: its events are dropped and the others written.
        """
        dropped: set[str] = set()
        pause = FIRST_RETRY_PAUSE_S
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                with self.db.engine.begin() as connection:
                    connection.execute(insert(_EVENTS), rows)
                    for run_id, values in changes.items():
                        connection.execute(update(_RUNS).where(_RUNS.c.id == run_id).values(values))
                return dropped
            except IntegrityError:
                gone = self._missing_runs({r["run_id"] for r in rows})
                if not gone:
                    raise
                log.warning("dropping events of deleted runs %s", sorted(gone))
                dropped |= gone
                rows = [r for r in rows if r["run_id"] not in gone]
                changes = {k: v for k, v in changes.items() if k not in gone}
                if not rows:
                    return dropped
            except DBAPIError as exc:
                if attempt == WRITE_ATTEMPTS:
                    raise
                log.warning("writing run events failed (%s); retrying", exc.__class__.__name__)
                time.sleep(pause)
                pause *= 2
        return dropped

    def _missing_runs(self, run_ids: set[str]) -> set[str]:
        with self.db.engine.connect() as connection:
            present = set(connection.scalars(select(_RUNS.c.id).where(_RUNS.c.id.in_(run_ids))))
        return run_ids - present


def _log_failure(task: asyncio.Task[None]) -> None:
    # Flushers see the error themselves; this covers writes started by the linger timer.
    if not task.cancelled() and task.exception() is not None:
        log.error("writing run events failed", exc_info=task.exception())
