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

**Fencing.** ``run_events`` has ``UNIQUE(run_id, seq)``: two executors that both believe
they hold a run (a worker that lost its queue lock while paused, and the one that took
the run over; or a worker and an API process that cancelled the run) cannot both write
its next event. The batch that loses is not failed: the losing run's events are dropped,
the run is *fenced* here (its later appends are dropped too), ``on_fenced`` is told, and
a ``flush`` made on behalf of that run (``CURRENT_RUN``) raises ``RunFenced``, so the
engine stops before it starts another node on a run that is not its own any more.

**Outages.** A batch that still cannot be written after the retries because the database
is unreachable is not kept to fail the runs later: its runs are released the same way
(their unwritten events are lost as in a crash) and listed in ``unavailable``; their
dispatcher resumes them from their durable events once the database answers.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from plait.node_runner import events as ev
from plait.node_runner.events import RunEvent

from ..db.models import Base
from ..db.session import UNREACHABLE, Database, unreachable_reason

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


class RunFenced(StoreClosed):
    """Another writer wrote this run's next event first: this executor must let it go."""


# The run on whose behalf the current task works. The dispatcher sets it when it starts
# executing a run; the engine's node tasks inherit it, so ``flush`` knows whose it is.
CURRENT_RUN: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "plait_current_run", default=None
)


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
        on_fenced: called on the event loop with the runs fenced by a batch (see the
            module docstring), so their executor stops them.
        linger_s: events nobody flushes are written this long after they were appended,
            so a long idempotent node still shows as started in the editor.
    """

    def __init__(
        self,
        db: Database,
        *,
        outcome: Callable[[str], Any] | None = None,
        on_durable: Callable[[list[RunEvent]], None] | None = None,
        on_fenced: Callable[[set[str]], None] | None = None,
        linger_s: float = 0.05,
    ) -> None:
        self.db = db
        self.outcome = outcome
        self.on_durable = on_durable
        self.on_fenced = on_fenced
        # Runs whose events this store no longer writes: fenced by a conflict, or
        # released by their executor (handed to another process).
        self._fenced: set[str] = set()
        # Runs released because the database could not be reached (see the docstring);
        # their dispatcher takes them out when it has seen to them.
        self.unavailable: set[str] = set()
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
        if event.run_id in self._fenced:
            return  # not this process's run any more
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
        run_id = CURRENT_RUN.get()
        if run_id is not None and run_id in self._fenced:
            raise RunFenced(f"run {run_id}: another executor wrote its events first")

    async def load(self, run_id: str) -> list[RunEvent]:
        return await asyncio.to_thread(self.load_sync, run_id)

    # -- more ----------------------------------------------------------------------------

    def load_sync(
        self, run_id: str, *, after_seq: int = 0, limit: int | None = None
    ) -> list[RunEvent]:
        """``load`` for callers already in a worker thread."""
        with self.db.engine.connect() as connection:
            return read_events(connection, run_id, after_seq=after_seq, limit=limit)

    def last_seq(self, run_id: str) -> int:
        """The ``seq`` of the run's last durable event (0 when it has none)."""
        with self.db.engine.connect() as connection:
            seq = connection.scalar(
                select(func.max(_EVENTS.c.seq)).where(_EVENTS.c.run_id == run_id)
            )
        return int(seq or 0)

    def fenced(self, run_id: str) -> bool:
        """True when this store no longer writes the run's events."""
        return run_id in self._fenced

    def release(self, run_id: str) -> None:
        """Write no more events of ``run_id`` (its executor hands it to another process);
        events appended and not yet written are dropped as well."""
        self._fenced.add(run_id)
        kept = [e for e in self._buffer if e.run_id != run_id]
        self._settled += len(self._buffer) - len(kept)
        self._buffer = kept

    def forget(self, run_id: str) -> None:
        """The run's executor is done with it: forget that it was fenced."""
        self._fenced.discard(run_id)

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
                    dropped, fenced = await asyncio.to_thread(self._commit, rows, changes)
                except UNREACHABLE as exc:
                    runs = {e.run_id for e in batch}
                    self._settled += len(batch)
                    log.error(
                        "the database cannot be reached (%s); %d run(s) stop here and resume"
                        " from their durable events once it answers",
                        unreachable_reason(exc),
                        len(runs),
                    )
                    self.unavailable |= runs
                    self._fence(runs, conflict=False)
                    return
                except BaseException:
                    # Not durable: put the batch back in front, so a later flush retries it
                    # in order. (Cancelled only when the loop shuts down.)
                    self._buffer[:0] = batch
                    raise
                self._settled += len(batch)
                self.batches += 1
                dropped |= fenced
                self.events_written += sum(e.run_id not in dropped for e in batch)
                durable = [e for e in batch if e.run_id not in dropped] if dropped else batch
                if fenced:
                    self._fence(fenced)
                if self.on_durable is not None and durable:
                    try:
                        self.on_durable(durable)
                    except Exception:
                        log.exception("publishing run events failed")
        finally:
            self._writer = None
            if self._buffer and self._timer is None and not self._closed and self.linger_s > 0:
                self._timer = asyncio.get_running_loop().call_later(self.linger_s, self._on_linger)

    def _fence(self, run_ids: set[str], *, conflict: bool = True) -> None:
        self._fenced |= run_ids
        kept = [e for e in self._buffer if e.run_id not in run_ids]
        self._settled += len(self._buffer) - len(kept)
        self._buffer = kept
        for run_id in sorted(run_ids) if conflict else ():
            log.warning(
                "run %s: another executor wrote its next event first (seq conflict);"
                " this process stops executing it",
                run_id,
            )
        if self.on_fenced is not None:
            try:
                self.on_fenced(run_ids)
            except Exception:
                log.exception("stopping fenced runs failed")

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

    def _commit(
        self, rows: list[dict[str, Any]], changes: dict[str, dict[str, Any]]
    ) -> tuple[set[str], set[str]]:
        """Write one batch in one transaction; returns the runs whose events were
        dropped because the run is gone, and those dropped because they are fenced.

        A run deleted meanwhile (its flow was deleted) would fail the whole batch on its
        foreign key, and a run another executor wrote first on its ``(run_id, seq)``
        key: their events are dropped and the others written.
        """
        dropped: set[str] = set()
        fenced: set[str] = set()
        pause = FIRST_RETRY_PAUSE_S
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                with self.db.engine.begin() as connection:
                    connection.execute(insert(_EVENTS), rows)
                    for run_id, values in changes.items():
                        connection.execute(update(_RUNS).where(_RUNS.c.id == run_id).values(values))
                return dropped, fenced
            except IntegrityError:
                gone = self._missing_runs({r["run_id"] for r in rows})
                taken = self._conflicting_runs(rows) - gone
                if not gone and not taken:
                    raise
                if gone:
                    log.warning("dropping events of deleted runs %s", sorted(gone))
                dropped |= gone
                fenced |= taken
                rows = [r for r in rows if r["run_id"] not in gone | taken]
                changes = {k: v for k, v in changes.items() if k not in gone | taken}
                if not rows:
                    return dropped, fenced
            except DBAPIError as exc:
                if attempt == WRITE_ATTEMPTS:
                    raise
                log.warning("writing run events failed (%s); retrying", exc.__class__.__name__)
                time.sleep(pause)
                pause *= 2
        return dropped, fenced

    def _conflicting_runs(self, rows: list[dict[str, Any]]) -> set[str]:
        """The runs of ``rows`` of which some other writer already stored an event at or
        after the first ``seq`` of this batch."""
        first: dict[str, int] = {}
        for row in rows:
            run_id = row["run_id"]
            first[run_id] = min(first.get(run_id, row["seq"]), row["seq"])
        with self.db.engine.connect() as connection:
            latest = connection.execute(
                select(_EVENTS.c.run_id, func.max(_EVENTS.c.seq))
                .where(_EVENTS.c.run_id.in_(first))
                .group_by(_EVENTS.c.run_id)
            ).all()
        return {run_id for run_id, seq in latest if seq is not None and seq >= first[run_id]}

    def _missing_runs(self, run_ids: set[str]) -> set[str]:
        with self.db.engine.connect() as connection:
            present = set(connection.scalars(select(_RUNS.c.id).where(_RUNS.c.id.in_(run_ids))))
        return run_ids - present


def _log_failure(task: asyncio.Task[None]) -> None:
    # Flushers see the error themselves; this covers writes started by the linger timer.
    if not task.cancelled() and task.exception() is not None:
        log.error("writing run events failed", exc_info=task.exception())
