"""Schedules: the ``trigger.schedule`` nodes of active publications, their state, their
firings (docs/scheduler.md).

A schedule is identified by (stage, flow, node), not by a publication: republishing the
flow on the stage keeps its id, its pause flag and its cursor (``ScheduleState``). Its id
is derived from that triple, so it is known before the scheduler first sees it.

Key contracts:

- A firing is the run whose ``idempotency_key`` is ``schedule:{schedule id}:{fire time in
  UTC}``, unique in the database; it is inserted in the transaction that moves the
  schedule's ``checked_through`` past it, with the schedule's state row locked (PostgreSQL:
  ``FOR UPDATE SKIP LOCKED``; SQLite: the write lock). So two schedulers never start one
  firing twice, and a scheduler killed mid-firing either committed it or did not.
- Every query is scoped by workspace where a caller's request reaches it.
- Functions flush, never commit.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..db.models import Flow, Publication, Run, ScheduleEntry, ScheduleState, now
from ..errors import not_found
from ..scheduling.cron import Firings, Policy, ScheduleError, due_firings

log = logging.getLogger(__name__)

RUN_TRIGGER = "schedule"


def schedule_id(stage_id: str, flow_id: str, node_id: str) -> str:
    """The stable id of the schedule of ``node_id`` of a flow on a stage."""
    return hashlib.sha256(f"{stage_id}/{flow_id}/{node_id}".encode()).hexdigest()[:32]


def firing_key(schedule: str, fire_at: datetime) -> str:
    """The idempotency key of one firing: the schedule's id and the fire time in UTC."""
    return f"schedule:{schedule}:{fire_at.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"


def _aware(value: datetime | None) -> datetime | None:
    # SQLite gives datetimes back without their zone; every stored time is UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


@dataclass(frozen=True)
class ActiveSchedule:
    """A schedule that is published now, with what the scheduler keeps of it."""

    id: str
    entry_id: str
    workspace_id: str
    project_id: str
    stage_id: str
    stage: str
    flow_id: str
    flow_name: str
    publication_id: str
    version: int
    version_id: str
    bundle_id: str
    published_at: datetime
    node_id: str
    cron: str
    timezone: str
    params: dict[str, Any]
    paused: bool
    paused_at: datetime | None
    checked_through: datetime | None
    last_fired_at: datetime | None
    last_run_id: str | None

    @property
    def cursor(self) -> datetime:
        """Every fire time up to here is decided: the newer of the last one decided and
        the publication's start (firings before it were never this publication's)."""
        checked = self.checked_through
        return self.published_at if checked is None else max(checked, self.published_at)

    def policy(self, catch_up_cap: int) -> Policy:
        return Policy.from_params(self.params, catch_up_cap=catch_up_cap)


def _query() -> Any:
    return (
        select(ScheduleEntry, Publication, Flow.name, ScheduleState)
        .join(Publication, ScheduleEntry.publication_id == Publication.id)
        .join(Flow, Flow.id == Publication.flow_id)
        .outerjoin(
            ScheduleState,
            and_(
                ScheduleState.stage_id == Publication.stage_id,
                ScheduleState.flow_id == Publication.flow_id,
                ScheduleState.node_id == ScheduleEntry.node_id,
            ),
        )
        .where(Publication.active.is_(True))
    )


def _view(
    entry: ScheduleEntry, pub: Publication, flow_name: str, state: ScheduleState | None
) -> ActiveSchedule:
    published_at = _aware(pub.published_at)
    assert published_at is not None
    return ActiveSchedule(
        id=schedule_id(pub.stage_id, pub.flow_id, entry.node_id),
        entry_id=entry.id,
        workspace_id=pub.workspace_id,
        project_id=pub.project_id,
        stage_id=pub.stage_id,
        stage=pub.stage,
        flow_id=pub.flow_id,
        flow_name=flow_name,
        publication_id=pub.id,
        version=pub.version,
        version_id=pub.version_id,
        bundle_id=pub.bundle_id,
        published_at=published_at,
        node_id=entry.node_id,
        cron=entry.cron,
        timezone=entry.timezone,
        params=dict(entry.params),
        paused=bool(state and state.paused),
        paused_at=_aware(state.paused_at) if state else None,
        checked_through=_aware(state.checked_through) if state else None,
        last_fired_at=_aware(state.last_fired_at) if state else None,
        last_run_id=state.last_run_id if state else None,
    )


def active_schedules(session: Session) -> list[ActiveSchedule]:
    """Every published schedule of the installation: what the scheduler looks at."""
    rows = session.execute(_query().order_by(ScheduleEntry.id))
    return [_view(*row) for row in rows]


def project_schedules(
    session: Session, workspace_id: str, project_id: str, *, stage: str | None = None
) -> list[ActiveSchedule]:
    """The project's published schedules, by stage, flow name and node."""
    query = _query().where(
        Publication.workspace_id == workspace_id, Publication.project_id == project_id
    )
    if stage is not None:
        query = query.where(Publication.stage == stage)
    views = [_view(*row) for row in session.execute(query)]
    return sorted(views, key=lambda v: (v.stage, v.flow_name.lower(), v.flow_name, v.node_id))


def get(session: Session, workspace_id: str, project_id: str, schedule: str) -> ActiveSchedule:
    """A published schedule of the project; 404 otherwise (another workspace's too)."""
    for view in project_schedules(session, workspace_id, project_id):
        if view.id == schedule:
            return view
    raise not_found("schedule")


def _ensure_state(session: Session, schedule: ActiveSchedule) -> None:
    """Insert the schedule's state row unless it exists (a concurrent insert wins
    quietly: both sides then read the one row)."""
    values = {
        "id": schedule.id,
        "workspace_id": schedule.workspace_id,
        "project_id": schedule.project_id,
        "stage_id": schedule.stage_id,
        "flow_id": schedule.flow_id,
        "node_id": schedule.node_id,
        "paused": False,
        "updated_at": now(),
    }
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(ScheduleState).values(**values).on_conflict_do_nothing())


def _locked_state(
    session: Session, schedule: ActiveSchedule, *, wait: bool
) -> ScheduleState | None:
    """The schedule's state row, made if need be and locked for this transaction; None
    when ``wait`` is false and another transaction holds it."""
    _ensure_state(session, schedule)
    query = select(ScheduleState).where(
        ScheduleState.id == schedule.id, ScheduleState.workspace_id == schedule.workspace_id
    )
    query = query.with_for_update() if wait else query.with_for_update(skip_locked=True)
    # populate_existing: a row read earlier in this session is refreshed under the lock.
    return session.scalar(query.execution_options(populate_existing=True))


def _state_to_change(session: Session, schedule: ActiveSchedule) -> ScheduleState:
    state = _locked_state(session, schedule, wait=True)
    if state is None:  # cannot happen: it was just ensured, and we waited for the lock
        raise not_found("schedule")
    return state


def pause(session: Session, schedule: ActiveSchedule, *, user_id: str | None) -> ScheduleState:
    """Pause the schedule: no firing starts until it is resumed. Pausing a paused
    schedule changes nothing."""
    state = _state_to_change(session, schedule)
    if not state.paused:
        state.paused = True
        state.paused_at = now()
        state.paused_by = user_id
        state.updated_at = now()
    session.flush()
    return state


def resume(session: Session, schedule: ActiveSchedule, *, at: datetime) -> ScheduleState:
    """Resume the schedule from ``at``: the firings that fell in the pause are dropped
    whatever the misfire policy (a pause is not a misfire)."""
    state = _state_to_change(session, schedule)
    if state.paused:
        state.paused = False
        state.paused_at = None
        state.paused_by = None
        checked = _aware(state.checked_through)
        state.checked_through = at if checked is None else max(checked, at)
        state.updated_at = now()
    session.flush()
    return state


@dataclass(frozen=True)
class Fired:
    """What firing a schedule did: the runs it made (to dispatch after the commit)."""

    run_ids: list[str]
    firings: Firings | None


def fire_due(
    session: Session, schedule: ActiveSchedule, at: datetime, *, catch_up_cap: int
) -> Fired | None:
    """Start the schedule's due firings as of ``at``: one ``queued`` run per fire time,
    and the schedule's cursor moved past them (flushed, not committed).

    None when another scheduler holds the schedule right now (it is doing this).
    """
    # Read again under the lock: the listing the caller holds may be stale (another
    # scheduler fired meanwhile, or the flow was republished or unpublished).
    row = session.execute(
        _query()
        .where(ScheduleEntry.id == schedule.entry_id)
        .execution_options(populate_existing=True)
    ).first()
    if row is None:
        return Fired([], None)
    current = _view(*row)
    state = _locked_state(session, current, wait=False)
    if state is None:
        return None
    if state.paused:
        return Fired([], None)
    checked = _aware(state.checked_through)
    cursor = current.published_at if checked is None else max(checked, current.published_at)
    try:
        firings = due_firings(
            current.cron, current.timezone, cursor, at, current.policy(catch_up_cap)
        )
    except ScheduleError as exc:
        log.error(
            "schedule %s (flow %r on %s, node %r) cannot fire: %s; publish a fixed version",
            current.id,
            current.flow_name,
            current.stage,
            current.node_id,
            exc,
        )
        return Fired([], None)
    if firings.checked_through is None:
        return Fired([], firings)
    run_ids: list[str] = []
    for fire_at in firings.fire:
        run_id = _insert_run(session, current, fire_at)
        if run_id is not None:
            run_ids.append(run_id)
            state.last_fired_at = fire_at
            state.last_run_id = run_id
    state.checked_through = firings.checked_through
    state.updated_at = now()
    session.flush()
    return Fired(run_ids, firings)


def _insert_run(session: Session, schedule: ActiveSchedule, fire_at: datetime) -> str | None:
    """Insert the firing's run; None when that firing has a run already."""
    local = fire_at.astimezone(ZoneInfo(schedule.timezone))
    run = Run(
        workspace_id=schedule.workspace_id,
        flow_id=schedule.flow_id,
        version_id=schedule.version_id,
        stage=schedule.stage,
        trigger=RUN_TRIGGER,
        trigger_node=schedule.node_id,
        status="queued",
        bundle_id=schedule.bundle_id,
        input={
            "fired_at": fire_at.isoformat(),
            "fired_at_local": local.isoformat(),
            "timezone": schedule.timezone,
            "cron": schedule.cron,
            "schedule_id": schedule.id,
        },
        idempotency_key=firing_key(schedule.id, fire_at),
    )
    try:
        # A savepoint, so a clash rolls back this insert only, not the transaction.
        with session.begin_nested():
            session.add(run)
    except IntegrityError:
        # The state row's lock makes this unreachable between schedulers; it guards
        # the invariant if a state row was ever lost and made again.
        log.warning("schedule %s: the firing at %s has a run already", schedule.id, fire_at)
        return None
    return run.id
