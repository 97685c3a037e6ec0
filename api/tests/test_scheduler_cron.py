"""Fire times and the misfire policy: pure functions, DST cases as cronsim/Debian cron
define them (docs/scheduler.md).

London changes at 01:00 UTC: on 2026-03-29 wall time jumps 01:00 → 02:00 (01:xx does not
exist), on 2026-10-25 it goes 02:00 BST → 01:00 GMT (01:xx happens twice). New York
changes at 02:00 local: on 2026-03-08 02:00 → 03:00 (02:xx does not exist), on 2026-11-01
02:00 EDT → 01:00 EST (01:xx happens twice).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from plait.api.scheduling.clock import AcceleratedClock, SystemClock, clock_from_env
from plait.api.scheduling.cron import (
    Policy,
    ScheduleError,
    check,
    due_firings,
    fire_times_between,
    latest_fire_times,
    next_fire_times,
)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def day(cron: str, zone: str, date: str) -> list[str]:
    """The fire times from the UTC day before ``date`` to the day after, as 'MM-DD HH:MM'
    in UTC."""
    start = utc(f"{date}T00:00") - timedelta(days=1)
    times = fire_times_between(cron, zone, start, start + timedelta(days=3))
    return [t.strftime("%m-%d %H:%M") for t in times]


# -- DST ------------------------------------------------------------------------------------


def test_a_daily_0130_in_london_fires_once_on_the_autumn_change():
    # 01:30 happens twice on 2026-10-25 (BST, then GMT): cron fires at the first.
    assert day("30 1 * * *", "Europe/London", "2026-10-25") == [
        "10-24 00:30",  # 01:30 BST
        "10-25 00:30",  # 01:30 BST, the first of the two
        "10-26 01:30",  # 01:30 GMT
    ]


def test_a_daily_0130_in_new_york_fires_once_on_the_autumn_change():
    assert day("30 1 * * *", "America/New_York", "2026-11-01") == [
        "10-31 05:30",  # 01:30 EDT
        "11-01 05:30",  # 01:30 EDT, the first of the two
        "11-02 06:30",  # 01:30 EST
    ]


def test_a_daily_0230_in_new_york_fires_on_the_spring_forward_day():
    # 02:30 does not exist on 2026-03-08: it fires at the first minute after the jump.
    times = next_fire_times("30 2 * * *", "America/New_York", utc("2026-03-07T12:00"), 3)

    assert times == [utc("2026-03-08T07:00"), utc("2026-03-09T06:30"), utc("2026-03-10T06:30")]
    assert times[0].astimezone(_zone("America/New_York")).strftime("%H:%M %Z") == "03:00 EDT"


def test_a_daily_0130_in_london_fires_on_the_spring_forward_day():
    # London skips 01:00-02:00 on 2026-03-29, so there 01:30 is the time that does not
    # exist (02:30 does): it fires at 02:00 BST.
    times = next_fire_times("30 1 * * *", "Europe/London", utc("2026-03-28T12:00"), 2)

    assert times == [utc("2026-03-29T01:00"), utc("2026-03-30T00:30")]
    assert next_fire_times("30 2 * * *", "Europe/London", utc("2026-03-28T12:00"), 1) == [
        utc("2026-03-29T01:30")  # 02:30 BST exists: nothing special
    ]


def test_an_hourly_schedule_fires_in_both_repeated_hours():
    # Hourly and finer schedules step through real instants (Debian cron does the same).
    autumn = day("30 * * * *", "Europe/London", "2026-10-25")
    assert autumn[23:27] == [
        "10-24 23:30",
        "10-25 00:30",  # 01:30 BST
        "10-25 01:30",  # 01:30 GMT
        "10-25 02:30",
    ]
    spring = day("30 * * * *", "America/New_York", "2026-03-08")
    assert "03-08 06:30" in spring and "03-08 07:30" in spring  # 01:30 EST, 03:30 EDT
    assert len(spring) == len(set(spring)) == 72


@pytest.mark.parametrize(
    ("zone", "cron", "after", "expected"),
    [
        # Starting inside the repeated hour, after the firing at its first occurrence:
        # the next firing is the next day's, never one in the past.
        ("Europe/London", "30 1 * * *", "2026-10-25T01:10", "2026-10-26T01:30"),
        ("America/New_York", "30 1 * * *", "2026-11-01T06:10", "2026-11-02T06:30"),
        ("America/New_York", "30 2 * * *", "2026-03-08T07:00", "2026-03-09T06:30"),
    ],
)
def test_the_next_fire_time_is_always_after_the_cursor(zone, cron, after, expected):
    assert next_fire_times(cron, zone, utc(after), 1) == [utc(expected)]


@pytest.mark.parametrize("zone", ["Europe/London", "America/New_York", "Australia/Lord_Howe"])
@pytest.mark.parametrize("cron", ["30 1 * * *", "30 2 * * *", "*/20 * * * *", "0 1-3 * * SUN"])
def test_the_newest_fire_times_agree_with_the_forward_ones(zone, cron):
    # latest_fire_times searches backwards to bound its work; the forward times decide.
    for start in ("2026-03-07", "2026-03-28", "2026-04-04", "2026-10-03", "2026-10-24"):
        after = utc(f"{start}T00:00")
        until = after + timedelta(days=3)
        forward = fire_times_between(cron, zone, after, until)
        for count in (1, 3, 50):
            assert latest_fire_times(cron, zone, after, until, count) == forward[-count:]


def test_the_newest_fire_times_after_a_year_are_cheap_and_right():
    after, until = utc("2025-11-22T00:00:30"), utc("2026-11-22T10:07:30")
    times = latest_fire_times("* * * * *", "Europe/Paris", after, until, 3)

    assert times == [utc("2026-11-22T10:05"), utc("2026-11-22T10:06"), utc("2026-11-22T10:07")]


def test_times_are_utc_and_a_naive_time_is_refused():
    (when,) = next_fire_times("0 9 * * *", "Asia/Kolkata", utc("2026-11-22T00:00"), 1)
    assert when == utc("2026-11-22T03:30") and when.tzinfo is UTC

    with pytest.raises(ValueError, match="no time zone"):
        next_fire_times("0 9 * * *", "UTC", datetime(2026, 11, 22), 1)


def test_an_expression_that_never_fires_is_a_schedule_error():
    with pytest.raises(ScheduleError, match="cannot fire"):
        check("0 0 30 2 *", "UTC")
    check("0 0 29 2 *", "UTC")  # leap days do come


# -- misfire policy ---------------------------------------------------------------------------

HOURLY = "0 * * * *"


def test_an_on_time_firing_fires():
    firings = due_firings(
        HOURLY, "UTC", utc("2026-11-22T09:00"), utc("2026-11-22T10:00:01"), Policy()
    )

    assert firings.fire == [utc("2026-11-22T10:00")]
    assert firings.checked_through == utc("2026-11-22T10:00")
    assert firings.missed == 0


def test_nothing_is_due_before_the_next_fire_time():
    firings = due_firings(
        HOURLY, "UTC", utc("2026-11-22T09:00"), utc("2026-11-22T09:59:59"), Policy()
    )

    assert firings.fire == [] and firings.checked_through is None


def test_skip_drops_missed_firings_and_fires_the_on_time_one():
    # Down from 05:30 to 10:00:20: 06:00 … 09:00 were missed; 10:00 is within the grace.
    firings = due_firings(
        HOURLY, "UTC", utc("2026-11-22T05:30"), utc("2026-11-22T10:00:20"), Policy()
    )

    assert firings.fire == [utc("2026-11-22T10:00")]
    assert firings.missed == 4
    assert firings.checked_through == utc("2026-11-22T10:00")


def test_skip_moves_the_cursor_past_missed_firings_when_none_is_on_time():
    firings = due_firings(HOURLY, "UTC", utc("2026-11-22T05:30"), utc("2026-11-22T10:30"), Policy())

    assert firings.fire == []
    assert firings.missed == 5
    # The next look starts after 10:00: the next firing is 11:00, in the future.
    assert firings.checked_through == utc("2026-11-22T10:00")


def test_the_grace_decides_what_is_late_and_what_is_missed():
    cursor, now = utc("2026-11-22T09:30"), utc("2026-11-22T10:05")

    assert due_firings(HOURLY, "UTC", cursor, now, Policy()).fire == []
    assert due_firings(HOURLY, "UTC", cursor, now, Policy(grace=timedelta(minutes=5))).fire == [
        utc("2026-11-22T10:00")
    ]


def test_catch_up_fires_the_newest_missed_firings_oldest_first_bounded():
    policy = Policy(misfire="catch_up", catch_up_max=3)
    firings = due_firings(
        HOURLY, "UTC", utc("2026-11-21T05:30"), utc("2026-11-22T10:00:05"), policy
    )

    # 06:00 yesterday … 09:00 today were missed (28); the 3 newest fire, then 10:00.
    assert firings.fire == [
        utc("2026-11-22T07:00"),
        utc("2026-11-22T08:00"),
        utc("2026-11-22T09:00"),
        utc("2026-11-22T10:00"),
    ]
    assert firings.missed == 28 - 3
    assert firings.checked_through == utc("2026-11-22T10:00")


def test_catch_up_of_fewer_missed_firings_than_the_bound_fires_them_all():
    policy = Policy(misfire="catch_up", catch_up_max=10)
    firings = due_firings(HOURLY, "UTC", utc("2026-11-22T07:30"), utc("2026-11-22T10:30"), policy)

    assert firings.fire == [
        utc("2026-11-22T08:00"),
        utc("2026-11-22T09:00"),
        utc("2026-11-22T10:00"),
    ]
    assert firings.missed == 0


def test_catch_up_is_capped_by_the_platform():
    params = {"misfire": "catch_up", "catch_up_max": 500, "misfire_grace_s": 30}

    assert Policy.from_params(params, catch_up_cap=10) == Policy(
        "catch_up", 10, timedelta(seconds=30)
    )
    assert Policy.from_params({}, catch_up_cap=10) == Policy("skip", 10, timedelta(seconds=60))
    assert Policy.from_params({"misfire": "catch_up"}, catch_up_cap=0).catch_up_max == 0


def test_catch_up_across_the_autumn_change_fires_the_repeated_day_once():
    policy = Policy(misfire="catch_up", catch_up_max=10)
    firings = due_firings(
        "30 1 * * *", "Europe/London", utc("2026-10-23T12:00"), utc("2026-10-27T12:00"), policy
    )

    assert firings.fire == [
        utc("2026-10-24T00:30"),
        utc("2026-10-25T00:30"),
        utc("2026-10-26T01:30"),
        utc("2026-10-27T01:30"),
    ]


# -- the clock --------------------------------------------------------------------------------


def test_the_test_clock_runs_fast_from_its_epoch():
    clock = clock_from_env({"PLAIT_SCHEDULER_CLOCK": "2026-03-29T00:00:00+00:00@600@1000"})

    assert isinstance(clock, AcceleratedClock)
    assert clock.start == utc("2026-03-29T00:00") and clock.speed == 600
    assert clock.epoch == 1000
    assert isinstance(clock_from_env({}), SystemClock)


@pytest.mark.parametrize(
    "value", ["soon", "2026-03-29T00:00:00@600", "2026-03-29T00:00:00+00:00@0", "x@1@2@3"]
)
def test_a_bad_test_clock_says_what_to_write(value):
    with pytest.raises(ValueError, match="must be <start>@<speed>"):
        clock_from_env({"PLAIT_SCHEDULER_CLOCK": value})


def _zone(name: str):
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)
