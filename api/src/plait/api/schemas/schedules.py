"""Schedules: the ``trigger.schedule`` nodes of published flows, their next fire times,
pause and resume."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from .common import UtcDateTime

NEXT_FIRE_TIMES = 5


class FireTime(BaseModel):
    utc: UtcDateTime = Field(description="The instant, in UTC.")
    local: str = Field(
        description="The same instant in the schedule's time zone, ISO-8601 with its offset.",
        examples=["2026-11-23T09:00:00+01:00"],
    )


class SchedulePublic(BaseModel):
    id: str = Field(
        description="Stable across republishing: one schedule per stage, flow and node."
    )
    project_id: str
    stage: str
    flow_id: str
    flow_name: str
    version: int = Field(description="The published version whose node this is.")
    node_id: str = Field(description="The `trigger.schedule` node runs start at.")
    cron: str = Field(examples=["0 9 * * MON-FRI"])
    timezone: str = Field(description="The IANA zone the expression is read in.")
    misfire: Literal["skip", "catch_up"] = Field(
        description="Firings missed while no scheduler ran: skipped, or caught up."
    )
    catch_up_max: int = Field(
        description="With `catch_up`, the most missed firings started, after the platform's"
        " cap (`PLAIT_SCHEDULER_CATCH_UP_MAX`)."
    )
    misfire_grace_s: int = Field(description="A firing this late or less still fires.")
    paused: bool
    paused_at: UtcDateTime | None
    last_fired_at: FireTime | None = Field(description="The fire time of the latest firing.")
    last_run_id: str | None = Field(description="The run the latest firing started.")
    next_fire_times: list[FireTime] = Field(
        description=f"The next {NEXT_FIRE_TIMES} fire times from now (none start while paused)."
    )
    error: str | None = Field(
        None, description="Why the schedule cannot fire (e.g. an expression no date matches)."
    )
