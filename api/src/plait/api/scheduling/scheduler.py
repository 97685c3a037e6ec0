"""The scheduler loop, and the ``plait scheduler`` process around it.

Every ``PLAIT_SCHEDULER_TICK_S`` the scheduler reads the published schedules, and for each
whose next fire time (after its cursor) has come, fires it in a transaction of its own
(``services.schedules.fire_due``), then hands the new runs to the dispatcher. Several
schedulers may run against one database: the state row's lock and the firing's unique
key make each firing happen once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TextIO

from sqlalchemy.exc import SQLAlchemyError

from ..db.session import unreachable_reason
from ..platform import Platform
from ..services import schedules
from .clock import Clock, SystemClock
from .cron import ScheduleError, next_fire_times

log = logging.getLogger(__name__)

Dispatch = Callable[[str], Awaitable[None]]
# How many schedules' next fire times are remembered between ticks.
_NEXT_CACHE_SIZE = 10_000


class Scheduler:
    """Fires due schedules of the platform's database.

    Args:
        platform: Its database and settings (``scheduler_tick_s``,
            ``scheduler_catch_up_max``).
        dispatch: Hands a committed run to whoever executes it; None leaves runs queued
            for a dispatcher that reconciles queued runs.
        clock: The time; the system's by default.
    """

    def __init__(
        self,
        platform: Platform,
        dispatch: Dispatch | None,
        *,
        clock: Clock | None = None,
    ) -> None:
        self.platform = platform
        self.dispatch = dispatch
        self.clock = clock or SystemClock()
        self.tick_s = platform.settings.scheduler_tick_s
        self.catch_up_cap = platform.settings.scheduler_catch_up_max
        self._stop = asyncio.Event()
        self._next: dict[tuple[str, str, datetime], datetime | None] = {}
        self._db_down = False
        self.fired = 0

    # -- one look ---------------------------------------------------------------------------

    def tick(self, at: datetime | None = None) -> list[str]:
        """Fire every schedule due at ``at`` (default: the clock's now); return the ids
        of the runs committed, to dispatch. Synchronous: it is database work."""
        at = at or self.clock.now()
        db = self.platform.db
        with db.sessions() as session:
            active = schedules.active_schedules(session)
        run_ids: list[str] = []
        for schedule in active:
            if schedule.paused or not self._due(schedule, at):
                continue
            with db.sessions() as session:
                fired = schedules.fire_due(session, schedule, at, catch_up_cap=self.catch_up_cap)
                if fired is None:
                    continue  # another scheduler holds it: it is firing it
                session.commit()
            run_ids.extend(fired.run_ids)
            self.fired += len(fired.run_ids)
            firings = fired.firings
            if firings is not None and firings.missed:
                log.warning(
                    "schedule %s (flow %r on %s, node %r): %s%d missed firing(s) skipped"
                    " (misfire policy %s)",
                    schedule.id,
                    schedule.flow_name,
                    schedule.stage,
                    schedule.node_id,
                    "at least " if firings.missed >= 1000 else "",
                    firings.missed,
                    schedule.policy(self.catch_up_cap).misfire,
                )
            if fired.run_ids:
                log.info(
                    "schedule %s (flow %r on %s): fired %d run(s) through %s",
                    schedule.id,
                    schedule.flow_name,
                    schedule.stage,
                    len(fired.run_ids),
                    firings.checked_through.isoformat()
                    if firings and firings.checked_through
                    else "",
                )
        if len(self._next) > _NEXT_CACHE_SIZE:
            self._next.clear()
        return run_ids

    def _due(self, schedule: schedules.ActiveSchedule, at: datetime) -> bool:
        """Whether the schedule's next fire time after its cursor has come (cached per
        cursor, so an idle schedule costs a dictionary lookup per tick)."""
        key = (schedule.cron, schedule.timezone, schedule.cursor)
        if key not in self._next:
            try:
                upcoming = next_fire_times(schedule.cron, schedule.timezone, schedule.cursor, 1)
            except ScheduleError as exc:
                log.error("schedule %s cannot fire: %s", schedule.id, exc)
                upcoming = []
            self._next[key] = upcoming[0] if upcoming else None
        next_at = self._next[key]
        return next_at is not None and next_at <= at

    # -- the loop ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Tick until ``stop``; a database outage is logged once and retried each tick."""
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                run_ids = await asyncio.to_thread(self.tick)
            except SQLAlchemyError as exc:
                if not self._db_down:
                    log.error(
                        "scheduler: the database is unavailable (%s); retrying every %.1f s",
                        unreachable_reason(exc),
                        self.tick_s,
                    )
                self._db_down = True
                run_ids = []
            except Exception:
                log.exception("scheduler: a tick failed; retrying")
                run_ids = []
            else:
                if self._db_down:
                    log.info("scheduler: the database is back")
                self._db_down = False
            await self._hand_over(run_ids)
            elapsed = time.monotonic() - started
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), max(0.0, self.tick_s - elapsed))

    async def _hand_over(self, run_ids: list[str]) -> None:
        if self.dispatch is None:
            return
        for run_id in run_ids:
            try:
                await self.dispatch(run_id)
            except Exception as exc:
                # The run is committed queued: the next start of a dispatcher (or the
                # queue's reconciler) executes it.
                log.warning("scheduler: run %s stays queued: %s", run_id, exc)

    def stop(self) -> None:
        """Stop after the tick in progress (its firings commit or roll back whole)."""
        self._stop.set()


# -- `plait scheduler` ------------------------------------------------------------------------


def run_process(platform: Platform, out: TextIO, *, clock: Clock | None = None) -> int:
    """``plait scheduler``: the scheduler alone, until SIGTERM or SIGINT; the exit code.

    Its runs go to the dispatcher the settings configure (``runtime.start``): with
    ``PLAIT_QUEUE=bullmq`` to the workers, with the local queue into this process. The
    database must be migrated.
    """
    from .. import runtime

    if platform.settings.queue == "local":
        # The local dispatcher resumes every queued or running run of the database when it
        # starts, as if it were the only executor: right for one process, not beside a
        # `plait serve` that executes runs too.
        log.warning(
            "PLAIT_QUEUE=local: this scheduler executes the runs it starts itself; beside"
            " other processes that run runs, set PLAIT_QUEUE=bullmq (docs/scheduler.md)"
        )

    async def main() -> None:
        await runtime.start(platform)
        dispatcher = platform.dispatcher
        scheduler = Scheduler(
            platform, dispatcher.dispatch if dispatcher is not None else None, clock=clock
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, scheduler.stop)
        try:
            with platform.db.sessions() as session:
                count = len(schedules.active_schedules(session))
            out.write(
                f"plait scheduler ready: {count} published schedule(s), ticking every"
                f" {scheduler.tick_s:g} s\n"
            )
            out.flush()
            await scheduler.run()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            await runtime.stop(platform)

    try:
        asyncio.run(main())
    finally:
        platform.db.dispose()
    sys.stderr.flush()
    return 0
