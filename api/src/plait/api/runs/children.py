"""Durable child runs: ``ctx.children.run(flow, payload)`` on the platform.

A child is a run of its own — a ``runs`` row with ``parent_run_id``, its own events and
its own page in the history — executed on its parent's account (outside the worker
limit, so parents waiting for children can never take every worker) and awaited.

``flow`` names a flow of the parent's workspace by id, or of the parent's project by
name; ``name@3`` runs version 3, a bare reference runs the draft. The child gets its
``payload`` as input and its outputs come back as ``{node_id: {port: value}}``; a child
that does not succeed raises ``NodeError(kind="child_run")`` with the child's error.

Across a restart: each call has a key made of the parent run, the flow reference, the
payload and how many identical calls the parent made before it. A parent node that runs
again after a crash makes the same call with the same key, finds the child it started
(finished, or resumed by the dispatcher) and waits for it instead of starting another.
Two identical calls in one run that straddle a crash may be matched to each other's
child; their flow and payload being equal, so are their results.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections import Counter
from typing import TYPE_CHECKING, Any

from pydantic_core import to_jsonable_python
from sqlalchemy.exc import IntegrityError

from plait.node_runner.blobs import resolve
from plait.node_runner.errors import NodeError

from ..db.models import Run
from ..errors import ApiError
from ..services import runs as service

if TYPE_CHECKING:
    from .dispatcher import LocalRunDispatcher, RunSpec

KIND_CHILD_RUN = "child_run"


def parse_reference(reference: str) -> tuple[str, int | None]:
    """``"name@3"`` → ``("name", 3)``; anything else is a flow id or name, the draft."""
    name, at, number = reference.rpartition("@")
    if at and name and number.isdigit():
        return name, int(number)
    return reference, None


class DatabaseChildRuns:
    """``ChildRuns`` for one parent run."""

    def __init__(self, dispatcher: LocalRunDispatcher, parent: RunSpec) -> None:
        self._dispatcher = dispatcher
        self._parent = parent
        self._calls: Counter[str] = Counter()
        # The child runs being waited for now (the dispatcher asks, when it stops).
        self.awaited: set[str] = set()

    async def run(self, flow: str, payload: Any = None) -> dict[str, Any]:
        payload = to_jsonable_python(payload)
        call = json.dumps([flow, payload], sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(call.encode()).hexdigest()[:32]
        occurrence = self._calls[digest]
        self._calls[digest] += 1
        key = f"child:{self._parent.run_id}:{digest}:{occurrence}"

        child_id, status = await asyncio.to_thread(self._ensure_child, key, flow, payload)
        if status not in service.TERMINAL:
            dispatcher = self._dispatcher
            await dispatcher.dispatch(child_id, child=True)
            self.awaited.add(child_id)
            try:
                await dispatcher.wait(child_id)
            except asyncio.CancelledError:
                # The parent's node was cancelled, so nothing waits for the child any more.
                with contextlib.suppress(Exception):
                    await dispatcher.cancel(child_id)
                raise
            finally:
                self.awaited.discard(child_id)
        return await asyncio.to_thread(self._outputs, child_id, flow)

    def _ensure_child(self, key: str, reference: str, payload: Any) -> tuple[str, str]:
        """The child run of this call: found by its key, else created ``queued``."""
        parent = self._parent
        dispatcher = self._dispatcher
        with dispatcher.platform.db.sessions() as session:
            existing = service.by_idempotency_key(session, key)
            if existing is not None:
                return existing.id, existing.status
            if service.child_depth(session, parent.run_id) >= service.MAX_CHILD_DEPTH:
                raise NodeError(
                    KIND_CHILD_RUN,
                    f"child runs nest more than {service.MAX_CHILD_DEPTH} deep"
                    " (does a flow run itself?)",
                )
            ref, version = parse_reference(reference)
            flow = service.find_flow(session, parent.workspace_id, parent.project_id, ref)
            if flow is None:
                raise NodeError(KIND_CHILD_RUN, f"no flow {ref!r} to run as a child")
            try:
                target = service.resolve_target(session, flow, version, dispatcher.plans)
                trigger = service.check_start(target.plan, None, {})
            except ApiError as exc:
                raise NodeError(
                    KIND_CHILD_RUN, f"child flow {reference!r}: {exc.message}", details=exc.details
                ) from None
            run = service.create_run(
                session,
                workspace_id=parent.workspace_id,
                flow=flow,
                target=target,
                input=payload,
                kind="child",
                trigger_node=trigger,
                idempotency_key=key,
                parent_run_id=parent.run_id,
            )
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                existing = service.by_idempotency_key(session, key)
                if existing is None:
                    raise
                return existing.id, existing.status
            return run.id, run.status

    def _outputs(self, child_id: str, reference: str) -> dict[str, Any]:
        platform = self._dispatcher.platform
        with platform.db.sessions() as session:
            run = session.get(Run, child_id)
        if run is None:
            raise NodeError(KIND_CHILD_RUN, f"child run of {reference!r} was deleted")
        if run.status != "succeeded":
            message = (run.error or {}).get("message", run.status)
            raise NodeError(
                KIND_CHILD_RUN,
                f"child flow {reference!r} {run.status}: {message}",
                details={"run_id": run.id, "error": run.error},
            )
        blobs = platform.blobs
        return {
            node_id: {port: resolve(value, blobs) for port, value in outputs.items()}
            for node_id, outputs in (run.result or {}).items()
        }
