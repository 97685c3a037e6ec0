"""trigger.schedule: cron and time zone are validated; ``fired_at`` is ISO-8601 in UTC."""

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from plait.node_runner.errors import NodeError
from plait.nodes.triggers import ScheduleTrigger


@pytest.mark.parametrize(
    "cron",
    [
        "* * * * *",
        "*/15 * * * *",
        "0 9 * * MON-FRI",
        "0 0 1,15 * *",
        "30 2 * jan-mar,dec sun",
        "0 0 L * *",
        "0 0 * * 5L",
        "0 0 * * FRI#2",
        "0-30/5 8-18 * * 1-5",
        "0 0 * * 7",
    ],
)
def test_accepts_cron_expressions(cron):
    ScheduleTrigger.Params.model_validate({"cron": cron})


@pytest.mark.parametrize(
    ("cron", "message"),
    [
        ("* * * *", "has 4"),
        ("* * * * * *", "has 6"),
        ("60 * * * *", "out of range 0-59 in the minute field"),
        ("* 24 * * *", "out of range 0-23 in the hour field"),
        ("* * 0 * *", "out of range 1-31 in the day-of-month field"),
        ("* * * 13 *", "out of range 1-12 in the month field"),
        ("* * * * 8", "out of range 0-7 in the day-of-week field"),
        ("* * * FOO *", "'FOO' is not a number or a name in the month field"),
        ("*/0 * * * *", "must be a positive number"),
        ("5-1 * * * *", "runs backwards"),
        ("1,,2 * * * *", "empty list item"),
        ("* * * * 1#6", "week number"),
        ("* L * * *", "'L' is not a number"),
    ],
)
def test_refuses_bad_cron_clearly(cron, message):
    with pytest.raises(ValidationError, match=message):
        ScheduleTrigger.Params.model_validate({"cron": cron})


def test_cron_whitespace_is_normalised():
    assert ScheduleTrigger.Params.model_validate({"cron": " 0  9 * *\t* "}).cron == "0 9 * * *"


def test_accepts_iana_time_zones_and_refuses_others():
    params = ScheduleTrigger.Params.model_validate({"cron": "0 9 * * *"})
    assert params.timezone == "UTC"
    ScheduleTrigger.Params.model_validate({"cron": "0 9 * * *", "timezone": "Europe/Paris"})

    with pytest.raises(ValidationError, match="unknown time zone 'Mars/Olympus'"):
        ScheduleTrigger.Params.model_validate({"cron": "0 9 * * *", "timezone": "Mars/Olympus"})


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2025-03-30T01:00:00+00:00", "2025-03-30T01:00:00+00:00"),
        ("2025-03-30T01:00:00Z", "2025-03-30T01:00:00+00:00"),
        ("2025-03-30T03:00:00+02:00", "2025-03-30T01:00:00+00:00"),
        ("2025-03-30T01:00:00", "2025-03-30T01:00:00+00:00"),
    ],
)
async def test_fired_at_comes_from_the_payload_in_utc(run_node, given, expected):
    out = await run_node(
        ScheduleTrigger, {"cron": "0 * * * *"}, trigger_payload={"fired_at": given}
    )

    assert out.fired_at == expected


async def test_fired_at_is_now_without_a_payload(run_node):
    before = datetime.now(UTC)
    out = await run_node(ScheduleTrigger, {"cron": "0 * * * *"})
    after = datetime.now(UTC)

    fired_at = datetime.fromisoformat(out.fired_at)
    assert fired_at.utcoffset().total_seconds() == 0
    assert before <= fired_at <= after


async def test_a_bad_fired_at_fails(run_node):
    with pytest.raises(NodeError) as caught:
        await run_node(ScheduleTrigger, {"cron": "0 * * * *"}, trigger_payload={"fired_at": "soon"})

    assert caught.value.kind == "invalid_inputs"


async def test_fired_at_local_is_the_same_instant_in_the_schedules_zone(run_node):
    out = await run_node(
        ScheduleTrigger,
        {"cron": "30 1 * * *", "timezone": "Europe/London"},
        trigger_payload={"fired_at": "2026-10-25T00:30:00+00:00"},
    )

    assert out.fired_at == "2026-10-25T00:30:00+00:00"
    assert out.fired_at_local == "2026-10-25T01:30:00+01:00"


def test_misfire_policy_defaults_to_skip():
    params = ScheduleTrigger.Params.model_validate({"cron": "0 9 * * *"})

    assert (params.misfire, params.catch_up_max, params.misfire_grace_s) == ("skip", 10, 60)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"misfire": "all"}, "'skip' or 'catch_up'"),
        ({"catch_up_max": 0}, "greater than or equal to 1"),
        ({"catch_up_max": 1001}, "less than or equal to 1000"),
        ({"misfire_grace_s": -1}, "greater than or equal to 0"),
    ],
)
def test_refuses_bad_misfire_settings(extra, message):
    with pytest.raises(ValidationError, match=message):
        ScheduleTrigger.Params.model_validate({"cron": "0 9 * * *", **extra})
