"""Retry policy decisions as pure functions, testable without running a node."""

from __future__ import annotations

import hashlib

from .errors import NodeError
from .flow import RetryPolicy


def retry_delay(policy: RetryPolicy, attempt: int, jitter_seed: float = 0.5) -> float:
    """Seconds to wait after failed ``attempt`` (1-based) before the next one.

    ``fixed`` waits ``delay_s``; ``exponential`` waits ``delay_s * 2**(attempt-1)``; both
    are capped by ``max_delay_s``. ``jitter`` spreads the delay by ±jitter·delay using
    ``jitter_seed`` in [0, 1); 0.5 means no spread. Same inputs, same delay.
    """
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    base = policy.delay_s
    if policy.backoff == "exponential":
        # Cap the exponent first so huge attempt numbers cannot overflow a float.
        base = policy.delay_s * (2.0 ** min(attempt - 1, 60))
    delay = min(base, policy.max_delay_s)
    if policy.jitter:
        delay *= 1.0 + policy.jitter * (2.0 * jitter_seed - 1.0)
    return max(0.0, min(delay, policy.max_delay_s))


def jitter_seed(run_id: str, node_id: str, attempt: int) -> float:
    """A stable pseudo-random number in [0, 1) for a node attempt, so a replay waits the same."""
    digest = hashlib.blake2b(f"{run_id}\0{node_id}\0{attempt}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def matches(error: NodeError, rule: str) -> bool:
    """Whether a ``retry_on`` rule matches an error.

    Rules: ``kind`` matches that kind; ``kind:NNN`` also needs that status;
    ``kind:Nxx`` a status in that hundred.
    """
    kind, _, status = rule.partition(":")
    if kind != error.kind:
        return False
    if not status:
        return True
    if error.status is None:
        return False
    if len(status) == 3 and status.endswith("xx") and status[0].isdigit():
        return error.status // 100 == int(status[0])
    return status.isdigit() and int(status) == error.status


def should_retry(policy: RetryPolicy, error: NodeError, attempt: int) -> bool:
    """True when failed ``attempt`` has another try left and its error kind retries."""
    if attempt >= policy.max_attempts:
        return False
    return any(matches(error, rule) for rule in policy.retry_on)
