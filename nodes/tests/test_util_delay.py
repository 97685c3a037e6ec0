"""util.delay: waits through the suspension service, then passes the input on."""

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from plait.nodes.util import Delay


class RecordingSuspension:
    """Records wake-up times and returns at once, as a resumed durable sleep would."""

    def __init__(self) -> None:
        self.sleeps: list[datetime] = []

    async def sleep_until(self, when: datetime) -> None:
        self.sleeps.append(when)

    async def wait_for_signal(self, name: str) -> None:
        raise AssertionError("delay never waits for a signal")


async def test_sleeps_until_now_plus_seconds_then_passes_the_input(run_node):
    suspension = RecordingSuspension()
    before = datetime.now(UTC)

    out = await run_node(Delay, {"seconds": 90}, {"input": {"a": 1}}, suspension=suspension)

    after = datetime.now(UTC)
    (when,) = suspension.sleeps
    assert before + timedelta(seconds=90) <= when <= after + timedelta(seconds=90)
    assert out.output == {"a": 1}


async def test_zero_seconds_does_not_suspend(run_node):
    suspension = RecordingSuspension()

    out = await run_node(Delay, {"seconds": 0}, {"input": "x"}, suspension=suspension)

    assert suspension.sleeps == []
    assert out.output == "x"


async def test_waits_without_a_suspension_service(run_node):
    out = await run_node(Delay, {"seconds": 0.001}, {"input": 3})

    assert out.output == 3


@pytest.mark.parametrize("seconds", [-1, 7 * 24 * 3600 + 1, float("nan"), float("inf")])
def test_refuses_delays_out_of_range(seconds):
    with pytest.raises(ValidationError):
        Delay.Params.model_validate({"seconds": seconds})
