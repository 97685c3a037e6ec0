"""The retry delay is a pure function of (attempt, policy)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plait.node_runner.errors import NodeError
from plait.node_runner.flow import RetryPolicy
from plait.node_runner.retry import jitter_seed, matches, retry_delay, should_retry


def test_fixed_backoff_waits_the_same_each_time() -> None:
    policy = RetryPolicy(max_attempts=5, backoff="fixed", delay_s=2)
    assert [retry_delay(policy, a) for a in (1, 2, 3, 4)] == [2, 2, 2, 2]


def test_exponential_backoff_doubles_and_is_capped() -> None:
    policy = RetryPolicy(max_attempts=10, backoff="exponential", delay_s=0.5, max_delay_s=3)
    assert [retry_delay(policy, a) for a in (1, 2, 3, 4, 5)] == [0.5, 1, 2, 3, 3]
    assert retry_delay(policy, 10_000) == 3  # no overflow for absurd attempts


def test_jitter_spreads_around_the_delay_deterministically() -> None:
    policy = RetryPolicy(delay_s=10, jitter=0.2)
    assert retry_delay(policy, 1, 0.0) == pytest.approx(8)
    assert retry_delay(policy, 1, 0.5) == pytest.approx(10)
    assert retry_delay(policy, 1, 0.999999) == pytest.approx(12, rel=1e-4)
    seed = jitter_seed("run", "node", 1)
    assert seed == jitter_seed("run", "node", 1) and 0 <= seed < 1
    assert seed != jitter_seed("run", "node", 2)


@settings(max_examples=200, derandomize=True)
@given(
    attempt=st.integers(1, 1000),
    delay=st.floats(0, 86400),
    cap=st.floats(0, 86400),
    jitter=st.floats(0, 1),
    seed=st.floats(0, 1, exclude_max=True),
    backoff=st.sampled_from(["fixed", "exponential"]),
)
def test_delay_is_bounded_and_pure(attempt, delay, cap, jitter, seed, backoff) -> None:  # type: ignore[no-untyped-def]
    policy = RetryPolicy(backoff=backoff, delay_s=delay, max_delay_s=cap, jitter=jitter)
    value = retry_delay(policy, attempt, seed)
    assert 0 <= value <= cap
    assert value == retry_delay(policy, attempt, seed)


def test_default_retry_on_matches_5xx_429_timeouts_and_connection_errors() -> None:
    policy = RetryPolicy(max_attempts=3)
    retried = [
        NodeError("http_status", "", status=503),
        NodeError("http_status", "", status=500),
        NodeError("http_status", "", status=429),
        NodeError("timeout", ""),
        NodeError("connection", ""),
    ]
    not_retried = [
        NodeError("http_status", "", status=404),
        NodeError("http_status", "", status=400),
        NodeError("exception", ""),
        NodeError("expression", ""),
    ]
    assert all(should_retry(policy, e, 1) for e in retried)
    assert not any(should_retry(policy, e, 1) for e in not_retried)
    assert not should_retry(policy, retried[0], 3)  # out of attempts


def test_rule_syntax() -> None:
    err = NodeError("http_status", "", status=418)
    assert matches(err, "http_status") and matches(err, "http_status:4xx")
    assert matches(err, "http_status:418") and not matches(err, "http_status:5xx")
    assert not matches(NodeError("http_status", ""), "http_status:4xx")  # no status
    assert not matches(err, "http_status:abc")
    with pytest.raises(ValueError):
        retry_delay(RetryPolicy(), 0)
