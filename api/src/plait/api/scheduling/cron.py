"""Fire times: when a schedule fires, in UTC, and which due firings a tick starts.

Pure functions of (cron expression, IANA time zone, instants); nothing here reads a
clock or a database, so every DST case is a unit test.

The times come from ``cronsim``, which evaluates an expression in the zone's wall time the
way Debian cron does: a daily time that a spring-forward change skips (02:30 in New York
on 2026-03-08) fires at the first minute after the jump (03:00 EDT); a daily time that an
autumn change repeats (01:30 in London on 2026-10-25) fires once, at its first occurrence
(01:30 BST). Expressions with ``*`` in the minute or hour field (hourly and finer) step
through real instants instead, so ``30 * * * *`` fires at 01:30 BST *and* 01:30 GMT.

Every instant handed in or out is timezone-aware UTC; the zone is only cronsim's business.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Literal
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError

MisfirePolicy = Literal["skip", "catch_up"]
MISFIRE_POLICIES: tuple[MisfirePolicy, ...] = ("skip", "catch_up")
DEFAULT_GRACE = timedelta(seconds=60)
DEFAULT_CATCH_UP = 10
# When the newest fire times are searched backwards, the forward search that decides
# starts this far before the oldest one found: cronsim's reverse iteration may differ from
# its forward one by up to a DST shift, and forward is the definition.
_REVERSE_MARGIN = timedelta(hours=3)


class ScheduleError(ValueError):
    """A cron expression or time zone that cronsim cannot evaluate; the message says why."""


@dataclass(frozen=True, slots=True)
class Policy:
    """What a schedule does about firings that were due while no scheduler ran.

    Attributes:
        misfire: ``skip`` drops missed firings; ``catch_up`` fires the ``catch_up_max``
            most recent ones, oldest first.
        catch_up_max: The most missed firings one catch-up starts.
        grace: A firing late by this much or less is on time, not missed.
    """

    misfire: MisfirePolicy = "skip"
    catch_up_max: int = DEFAULT_CATCH_UP
    grace: timedelta = DEFAULT_GRACE

    @classmethod
    def from_params(cls, params: dict[str, Any], *, catch_up_cap: int) -> Policy:
        """The policy of a ``trigger.schedule`` node's params (as published, defaults
        filled in), with ``catch_up_max`` lowered to the platform's cap."""
        misfire = params.get("misfire", "skip")
        return cls(
            misfire="catch_up" if misfire == "catch_up" else "skip",
            catch_up_max=max(
                0, min(int(params.get("catch_up_max", DEFAULT_CATCH_UP)), catch_up_cap)
            ),
            grace=timedelta(seconds=int(params.get("misfire_grace_s", DEFAULT_GRACE.seconds))),
        )


@dataclass(frozen=True, slots=True)
class Firings:
    """What one look at a schedule decides.

    Attributes:
        fire: The fire times to start now, oldest first.
        missed: How many due fire times are not started (skipped, or beyond catch-up).
        checked_through: The newest due fire time: every time up to it is decided, so it
            is the schedule's new cursor. None when nothing was due.
    """

    fire: list[datetime]
    missed: int
    checked_through: datetime | None


@lru_cache(maxsize=256)
def _zone(timezone: str) -> ZoneInfo:
    try:
        return ZoneInfo(timezone)
    except (KeyError, ValueError) as exc:
        raise ScheduleError(f"unknown time zone {timezone!r}: {exc}") from None


def _utc(when: datetime) -> datetime:
    if when.tzinfo is None:
        raise ValueError(f"{when!r} has no time zone; the scheduler works in aware UTC")
    return when.astimezone(UTC)


def _sim(cron: str, timezone: str, start: datetime, *, reverse: bool = False) -> CronSim:
    try:
        return CronSim(cron, start.astimezone(_zone(timezone)), reverse=reverse)
    except CronSimError as exc:
        raise ScheduleError(f"cron expression {cron!r} cannot fire: {exc}") from None


def check(cron: str, timezone: str) -> None:
    """Raise ``ScheduleError`` unless the schedule can be evaluated (e.g. ``0 0 30 2 *``,
    February 30th, never fires and cronsim refuses it)."""
    _sim(cron, timezone, datetime(2000, 1, 1, tzinfo=UTC))


def fire_times(cron: str, timezone: str, after: datetime) -> Iterator[datetime]:
    """The fire times strictly after ``after``, ascending, in UTC (ends after 50 years
    without one).

    Raises:
        ScheduleError: The expression or zone cannot be evaluated.
    """
    after = _utc(after)
    last = after
    # In Debian-cron mode cronsim walks naive wall time, so from an instant in the second
    # of two repeated hours it can first yield a time of the first one (earlier than
    # ``after``): such times are dropped, and the output is strictly increasing.
    for local in _sim(cron, timezone, after):
        when = local.astimezone(UTC)
        if when > last:
            last = when
            yield when


def next_fire_times(cron: str, timezone: str, after: datetime, count: int) -> list[datetime]:
    """The first ``count`` fire times strictly after ``after``, in UTC."""
    out: list[datetime] = []
    if count <= 0:
        return out
    for when in fire_times(cron, timezone, after):
        out.append(when)
        if len(out) == count:
            break
    return out


def fire_times_between(
    cron: str, timezone: str, after: datetime, until: datetime
) -> list[datetime]:
    """The fire times ``t`` with ``after < t <= until``, ascending, in UTC."""
    until = _utc(until)
    out: list[datetime] = []
    for when in fire_times(cron, timezone, after):
        if when > until:
            break
        out.append(when)
    return out


def latest_fire_times(
    cron: str, timezone: str, after: datetime, until: datetime, count: int
) -> list[datetime]:
    """The ``count`` newest fire times ``t`` with ``after < t <= until``, ascending.

    The work is bounded by ``count``, not by the length of the interval: a year of
    downtime of a per-minute schedule does not enumerate half a million minutes.
    """
    after, until = _utc(after), _utc(until)
    if count <= 0 or until <= after:
        return []
    found: list[datetime] = []
    for local in _sim(cron, timezone, until + timedelta(seconds=1), reverse=True):
        when = local.astimezone(UTC)
        if when <= after:
            break
        if when <= until:
            found.append(when)
            if len(found) > count:
                break
    start = after if len(found) <= count else max(after, min(found) - _REVERSE_MARGIN)
    return fire_times_between(cron, timezone, start, until)[-count:]


def due_firings(
    cron: str, timezone: str, cursor: datetime, now: datetime, policy: Policy
) -> Firings:
    """Which fire times after ``cursor`` and up to ``now`` start, under ``policy``.

    A due time at most ``policy.grace`` old is on time and fires; older ones are missed:
    ``skip`` drops them, ``catch_up`` fires the ``catch_up_max`` newest of them before the
    on-time ones.

    Args:
        cron: A 5-field cron expression.
        timezone: The IANA zone it is read in.
        cursor: Every fire time up to here is decided already.
        now: The scheduler's clock.
        policy: The schedule's misfire policy.
    """
    cursor, now = _utc(cursor), _utc(now)
    first = next_fire_times(cron, timezone, cursor, 1)
    if not first or first[0] > now:
        return Firings([], 0, None)
    on_time_from = now - policy.grace
    # Times at or after on_time_from fire whatever the policy.
    on_time = fire_times_between(
        cron, timezone, max(cursor, on_time_from - timedelta(microseconds=1)), now
    )
    missed_until = min(now, on_time_from - timedelta(microseconds=1))
    fire: list[datetime] = []
    if policy.misfire == "catch_up" and missed_until > cursor:
        fire = latest_fire_times(cron, timezone, cursor, missed_until, policy.catch_up_max)
    newest = on_time[-1] if on_time else latest_fire_times(cron, timezone, cursor, now, 1)[-1]
    missed = 0
    if first[0] < on_time_from:
        # Counted only as far as it is cheap: the number is for the log.
        missed = _count_between(cron, timezone, cursor, missed_until, limit=1_000) - len(fire)
    return Firings(fire + on_time, missed, newest)


def _count_between(
    cron: str, timezone: str, after: datetime, until: datetime, *, limit: int
) -> int:
    count = 0
    for when in fire_times(cron, timezone, after):
        if when > until or count >= limit:
            break
        count += 1
    return count
