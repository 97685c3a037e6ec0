"""The vocabulary of a bundle's generated ``flow.py``.

``flow.py`` imports only this module. It declares the flow's nodes and edges as data and
one step function per node; the executor turns those into an ``ExecutionPlan``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from .flow import DEFAULT_RETRY_ON, RetryPolicy


class _Missing:
    """An input whose edge carried no value: the Inputs model's default applies."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def data(text: str) -> Any:
    """JSON data embedded in ``flow.py`` as one string literal."""
    return json.loads(text)


@dataclass(frozen=True, slots=True)
class NodePlan:
    type: str
    version: int
    params: dict[str, Any] = field(default_factory=dict)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout_s: float | None = None
    on_error: str = "stop"
    join: str = "all"


def retry(
    max_attempts: int = 1,
    backoff: str = "fixed",
    delay_s: float = 1.0,
    max_delay_s: float = 300.0,
    jitter: float = 0.0,
    retry_on: tuple[str, ...] = DEFAULT_RETRY_ON,
) -> RetryPolicy:
    return RetryPolicy.model_validate(
        {
            "max_attempts": max_attempts,
            "backoff": backoff,
            "delay_s": delay_s,
            "max_delay_s": max_delay_s,
            "jitter": jitter,
            "retry_on": retry_on,
        }
    )


@dataclass(frozen=True, slots=True)
class Edge:
    id: str
    source: str
    source_port: str
    target: str
    target_port: str
    kind: str = "data"


class StepRuntime(Protocol):
    """What a step function in ``flow.py`` calls; the executor implements it."""

    def one(self, edge_id: str) -> Any:
        """The value on an edge, or ``MISSING`` when it carried none."""

    def many(self, edge_ids: tuple[str, ...]) -> list[Any]:
        """The values of a multi-edge input's active edges, in edge order."""
        ...

    async def call(self, node_id: str, inputs: dict[str, Any]) -> Any:
        """Run the node with the bound inputs (expressions, retries, timeouts)."""
