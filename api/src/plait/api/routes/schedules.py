"""Routes of the `schedules` tag: the published schedules of a project, pause and resume.

Anyone in the workspace reads them; pausing and resuming need the editor role. A schedule
is addressed by its stable id, so a pause survives republishing the flow.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query

from ..deps import CurrentPrincipal, Editor, PlatformDep, SessionDep
from ..scheduling.cron import ScheduleError, next_fire_times
from ..schemas.common import ID_PATTERN, error_responses
from ..schemas.projects import STAGE_MAX, STAGE_PATTERN
from ..schemas.schedules import NEXT_FIRE_TIMES, FireTime, SchedulePublic
from ..services import projects
from ..services import schedules as service
from .projects import ProjectId

router = APIRouter(tags=["schedules"], responses=error_responses(401, 422))

ScheduleId = Annotated[str, Path(pattern=ID_PATTERN, description="The schedule's id.")]
StageFilter = Annotated[
    str | None,
    Query(max_length=STAGE_MAX, pattern=STAGE_PATTERN, description="Only this stage's."),
]


def _fire_time(when: datetime, zone: ZoneInfo) -> FireTime:
    return FireTime(utc=when.astimezone(UTC), local=when.astimezone(zone).isoformat())


def public(schedule: service.ActiveSchedule, *, catch_up_cap: int, at: datetime) -> SchedulePublic:
    """The schedule as the API shows it, with its next fire times after ``at``."""
    zone = ZoneInfo(schedule.timezone)
    policy = schedule.policy(catch_up_cap)
    error = None
    try:
        upcoming = next_fire_times(
            schedule.cron, schedule.timezone, max(at, schedule.cursor), NEXT_FIRE_TIMES
        )
    except ScheduleError as exc:
        upcoming, error = [], str(exc)
    last = schedule.last_fired_at
    return SchedulePublic(
        id=schedule.id,
        project_id=schedule.project_id,
        stage=schedule.stage,
        flow_id=schedule.flow_id,
        flow_name=schedule.flow_name,
        version=schedule.version,
        node_id=schedule.node_id,
        cron=schedule.cron,
        timezone=schedule.timezone,
        misfire=policy.misfire,
        catch_up_max=policy.catch_up_max,
        misfire_grace_s=int(policy.grace.total_seconds()),
        paused=schedule.paused,
        paused_at=schedule.paused_at,
        last_fired_at=_fire_time(last, zone) if last is not None else None,
        last_run_id=schedule.last_run_id,
        next_fire_times=[_fire_time(t, zone) for t in upcoming],
        error=error,
    )


@router.get(
    "/projects/{project_id}/schedules",
    name="list",
    summary="A project's published schedules",
    responses=error_responses(404),
)
def list_schedules(
    project_id: ProjectId,
    principal: CurrentPrincipal,
    session: SessionDep,
    platform: PlatformDep,
    stage: StageFilter = None,
) -> list[SchedulePublic]:
    """Every schedule of a flow published on a stage of the project (by stage, flow name
    and node), with whether it is paused, its latest firing and its next five fire times
    in UTC and in its own time zone."""
    project = projects.get(session, principal.workspace_id, project_id)
    at = datetime.now(UTC)
    cap = platform.settings.scheduler_catch_up_max
    return [
        public(s, catch_up_cap=cap, at=at)
        for s in service.project_schedules(session, project.workspace_id, project.id, stage=stage)
    ]


@router.post(
    "/projects/{project_id}/schedules/{schedule_id}/pause",
    summary="Pause a schedule",
    responses=error_responses(403, 404),
)
def pause(
    project_id: ProjectId,
    schedule_id: ScheduleId,
    principal: Editor,
    session: SessionDep,
    platform: PlatformDep,
) -> SchedulePublic:
    """No firing of the schedule starts until it is resumed; republishing the flow keeps it
    paused. Pausing a paused schedule changes nothing."""
    schedule = service.get(session, principal.workspace_id, project_id, schedule_id)
    service.pause(session, schedule, user_id=principal.user_id)
    session.commit()
    return _reread(session, platform, principal.workspace_id, project_id, schedule_id)


@router.post(
    "/projects/{project_id}/schedules/{schedule_id}/resume",
    summary="Resume a schedule",
    responses=error_responses(403, 404),
)
def resume(
    project_id: ProjectId,
    schedule_id: ScheduleId,
    principal: Editor,
    session: SessionDep,
    platform: PlatformDep,
) -> SchedulePublic:
    """The schedule fires again from now on; the firings that fell in the pause are not
    caught up, whatever its misfire policy."""
    schedule = service.get(session, principal.workspace_id, project_id, schedule_id)
    service.resume(session, schedule, at=datetime.now(UTC))
    session.commit()
    return _reread(session, platform, principal.workspace_id, project_id, schedule_id)


def _reread(
    session: SessionDep, platform: PlatformDep, workspace_id: str, project_id: str, schedule_id: str
) -> SchedulePublic:
    schedule = service.get(session, workspace_id, project_id, schedule_id)
    cap = platform.settings.scheduler_catch_up_max
    return public(schedule, catch_up_cap=cap, at=datetime.now(UTC))
