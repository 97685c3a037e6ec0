"""Service protocols a node reaches through ``RunContext``, with in-memory implementations.

The platform provides durable implementations (database key-value store, durable
child runs, suspension across restarts); the engine and tests use these.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from .errors import NodeError


@runtime_checkable
class Secrets(Protocol):
    """Read-only access to the secrets of the run's project."""

    def get(self, name: str) -> str | None: ...

    def names(self) -> list[str]: ...


class InMemorySecrets:
    def __init__(self, values: Mapping[str, str] | None = None) -> None:
        self._values = dict(values or {})

    def get(self, name: str) -> str | None:
        return self._values.get(name)

    def names(self) -> list[str]:
        return sorted(self._values)


@runtime_checkable
class KeyValueStore(Protocol):
    """A small durable key-value store scoped to a namespace (flow, project...)."""

    async def get(self, key: str, default: Any = None) -> Any: ...

    async def set(self, key: str, value: Any) -> None: ...

    async def delete(self, key: str) -> None: ...


class InMemoryKeyValueStore:
    def __init__(self) -> None:
        self._data: dict[str, Any] = {}

    async def get(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)

    async def set(self, key: str, value: Any) -> None:
        self._data[key] = value

    async def delete(self, key: str) -> None:
        self._data.pop(key, None)


@runtime_checkable
class ChildRuns(Protocol):
    """Start another flow (by reference) as a child run and await its outputs."""

    async def run(self, flow: str, payload: Any = None) -> dict[str, Any]: ...


class InMemoryChildRuns:
    """Child runs of flows registered in memory, executed by a callable.

    ``runner(flow_ref, payload)`` returns the child's outputs (``{node_id: {port: value}}``).
    """

    def __init__(self, runner: Any = None) -> None:
        self._runner = runner

    async def run(self, flow: str, payload: Any = None) -> dict[str, Any]:
        if self._runner is None:
            raise NodeError("child_run", f"no child-run service here to start flow {flow!r}")
        result: dict[str, Any] = await self._runner(flow, payload)
        return result


class Cancellation:
    """A run's cancellation flag; thread-safe so blocking nodes can poll it."""

    def __init__(self) -> None:
        self._flag = threading.Event()
        self._waiters: list[asyncio.Event] = []

    def cancel(self) -> None:
        self._flag.set()
        for ev in self._waiters:
            ev.set()

    @property
    def cancelled(self) -> bool:
        return self._flag.is_set()

    def raise_if_cancelled(self) -> None:
        if self._flag.is_set():
            raise asyncio.CancelledError("run cancelled")

    async def wait(self) -> None:
        if self._flag.is_set():
            return
        ev = asyncio.Event()
        self._waiters.append(ev)
        try:
            await ev.wait()
        finally:
            self._waiters.remove(ev)
