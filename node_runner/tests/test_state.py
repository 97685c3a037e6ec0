"""The run state machine: transitions only by events; illegal ones are refused."""

from __future__ import annotations

import pytest

from plait.node_runner import events as ev
from plait.node_runner.events import RunEvent
from plait.node_runner.state import (
    NODE_TERMINAL,
    InvalidTransition,
    NodeStatus,
    RunState,
    RunStatus,
    rebuild,
)


def events(*specs: tuple[str, str | None, dict | None]) -> list[RunEvent]:
    return [RunEvent("r", i, t, n, d) for i, (t, n, d) in enumerate(specs, 1)]


def test_every_node_state_is_reachable_by_events() -> None:
    state = rebuild(
        events(
            (
                ev.RUN_STARTED,
                None,
                {"nodes": ["ok", "bad", "slow", "late", "skip", "gone", "wait", "seeded"]},
            ),
            (ev.NODE_STARTED, "ok", {"attempt": 1}),
            (ev.NODE_SUCCEEDED, "ok", {"outputs": {"x": 1}}),
            (ev.NODE_STARTED, "bad", {"attempt": 1}),
            (ev.NODE_RETRYING, "bad", {"attempt": 1, "error": {"kind": "timeout"}}),
            (ev.NODE_STARTED, "bad", {"attempt": 2}),
            (ev.NODE_FAILED, "bad", {"error": {"kind": "exception"}, "routed": "error_port"}),
            (ev.NODE_STARTED, "slow", {"attempt": 1}),
            (ev.NODE_TIMED_OUT, "slow", {"error": {"kind": "timeout"}}),
            (ev.NODE_STARTED, "late", {"attempt": 1}),
            (ev.NODE_CANCELLED, "late", None),
            (ev.NODE_SKIPPED, "skip", None),
            (ev.NODE_ABANDONED, "gone", None),
            (ev.NODE_STARTED, "wait", {"attempt": 1}),
            (ev.NODE_SUSPENDED, "wait", {"call": "1.0", "until": "2030-01-01T00:00:00+00:00"}),
            (ev.NODE_SEEDED, "seeded", {"outputs": {}}),
        )
    )
    got = {n: rec.status for n, rec in state.nodes.items()}
    assert got == {
        "ok": NodeStatus.SUCCEEDED,
        "bad": NodeStatus.FAILED,
        "slow": NodeStatus.TIMED_OUT,
        "late": NodeStatus.CANCELLED,
        "skip": NodeStatus.SKIPPED,
        "gone": NodeStatus.ABANDONED,
        "wait": NodeStatus.SUSPENDED,
        "seeded": NodeStatus.SUCCEEDED,
    }
    assert state.nodes["bad"].attempt == 2
    assert state.nodes["bad"].outputs == {"error": {"kind": "exception"}}  # routed error
    assert state.nodes["slow"].outputs == {}
    assert state.status is RunStatus.RUNNING
    pending = RunState("r", ["p"])
    assert pending.nodes["p"].status is NodeStatus.PENDING


@pytest.mark.parametrize(
    "specs",
    [
        [(ev.NODE_SUCCEEDED, "a", None)],  # succeeded without starting
        [(ev.NODE_STARTED, "a", None), (ev.NODE_SKIPPED, "a", None)],
        [(ev.NODE_SKIPPED, "a", None), (ev.NODE_STARTED, "a", None)],  # terminal is final
        [(ev.NODE_STARTED, "a", None), (ev.NODE_SUCCEEDED, "a", None), (ev.NODE_FAILED, "a", None)],
    ],
)
def test_illegal_transitions_are_refused(specs: list) -> None:
    with pytest.raises(InvalidTransition):
        rebuild(events((ev.RUN_STARTED, None, None), *specs))


def test_run_terminal_states_are_closed() -> None:
    for terminal in (ev.RUN_SUCCEEDED, ev.RUN_FAILED, ev.RUN_TIMED_OUT, ev.RUN_CANCELLED):
        state = rebuild(events((ev.RUN_STARTED, None, None), (terminal, None, None)))
        assert state.finished
        with pytest.raises(InvalidTransition):
            state.apply(RunEvent("r", 3, ev.RUN_SUCCEEDED))


def test_events_must_arrive_in_sequence() -> None:
    state = RunState("r")
    with pytest.raises(InvalidTransition):
        state.apply(RunEvent("r", 2, ev.RUN_STARTED))
    with pytest.raises(InvalidTransition):
        rebuild(events((ev.RUN_STARTED, None, None), (ev.RUN_STARTED, None, None)))


def test_terminal_set() -> None:
    assert NodeStatus.SUSPENDED not in NODE_TERMINAL and NodeStatus.RUNNING not in NODE_TERMINAL
    assert len(NODE_TERMINAL) == 6
