"""The executor: walks a bundle's DAG with durable per-node state (ARCHITECTURE.md §5).

One asyncio loop runs a run. Ready nodes run concurrently on up to ``max_concurrency``
workers; a worker that finishes a node picks the next ready one itself, so a chain costs
no task per node. Every state change is an event: appended to the ``EventStore``,
folded into ``RunState`` by the same ``apply`` that ``rebuild`` uses, so a run resumed
after a crash continues from exactly what was durable, without running a succeeded
node again.

Edge semantics. Each incoming data edge resolves to *active* (a value arrived),
*inactive* (its source was skipped, cancelled, or left that port unset) or *failed* (its
source failed with ``on_error: stop`` or was abandoned). ``join: all`` waits for every
edge; a failed edge abandons the node; a node whose edges are all inactive, or whose
required input has no active edge, is skipped; otherwise it runs with the active values.
``join: any`` runs on the first active edge; ``first`` also cancels the nodes whose only
way forward is into the join.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import time
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import to_jsonable_python

from . import events as ev
from .blobs import DEFAULT_BLOB_THRESHOLD, BlobStore, InMemoryBlobStore, externalize, resolve
from .compiler import Bundle
from .errors import (
    KIND_INVALID_INPUTS,
    KIND_INVALID_OUTPUTS,
    KIND_INVALID_PARAMS,
    KIND_TIMEOUT,
    NodeError,
    PlaitError,
)
from .events import EventStore, InMemoryEventStore, RunEvent
from .execution_plan import ExecutionPlan, PreparedNode, load_plan
from .expressions import render_template
from .flow import format_validation_error
from .plan import MISSING
from .registry import NodeRegistry
from .retry import jitter_seed, retry_delay, should_retry
from .sdk import RunContext, _render_plain
from .services import (
    Cancellation,
    ChildRuns,
    InMemoryChildRuns,
    InMemoryKeyValueStore,
    InMemorySecrets,
    KeyValueStore,
    Secrets,
)
from .state import NODE_TERMINAL, NodeRecord, NodeStatus, RunState, RunStatus, rebuild

log = logging.getLogger(__name__)

_LIVE = frozenset({NodeStatus.RUNNING, NodeStatus.SUSPENDED})
_INACTIVE: Any = object()
_FAILED: Any = object()
_PLAIN = (str, int, float, bool, type(None))


class RunError(PlaitError):
    """A run that cannot start or resume (unknown trigger, bad seeds, finished run)."""


class RunResult:
    """What a finished (or stopped) run produced."""

    def __init__(self, state: RunState, plan: ExecutionPlan, blobs: BlobStore) -> None:
        self.state = state
        self.plan = plan
        self._blobs = blobs

    @property
    def run_id(self) -> str:
        return self.state.run_id

    @property
    def status(self) -> RunStatus:
        return self.state.status

    @property
    def succeeded(self) -> bool:
        return self.state.status is RunStatus.SUCCEEDED

    @property
    def error(self) -> dict[str, Any] | None:
        return self.state.error

    def node_status(self, node_id: str) -> NodeStatus:
        return self.state.nodes[node_id].status

    def output(self, node_id: str, port: str, *, resolve_blobs: bool = True) -> Any:
        value = (self.state.nodes[node_id].outputs or {})[port]
        return resolve(value, self._blobs) if resolve_blobs else value

    def outputs(self, *, resolve_blobs: bool = True) -> dict[str, dict[str, Any]]:
        """Outputs of the nodes with no outgoing data edges that produced any."""
        out: dict[str, dict[str, Any]] = {}
        for node_id in self.plan.scheduled:
            if node_id not in self.plan.sinks:
                continue
            values = self.state.nodes[node_id].outputs
            if values:
                out[node_id] = {
                    k: resolve(v, self._blobs) if resolve_blobs else v for k, v in values.items()
                }
        return out

    def to_json(self) -> dict[str, Any]:
        """``{run_id, status, outputs, nodes}``, plus ``error`` when the run did not succeed."""
        out: dict[str, Any] = {
            "run_id": self.run_id,
            "status": str(self.status),
            "outputs": self.outputs(),
            "nodes": {
                n: {"status": str(rec.status), "attempts": rec.attempt}
                for n, rec in self.state.nodes.items()
            },
        }
        if self.error is not None:
            out["error"] = self.error
        return out


@dataclass(frozen=True, slots=True)
class RunServices:
    """Per-run overrides of the executor's node services (None: the executor's own)."""

    secrets: Secrets | None = None
    kv: KeyValueStore | None = None
    children: ChildRuns | None = None


class _Counts:
    """Per-node edge bookkeeping for deciding when (and whether) it runs."""

    __slots__ = ("active", "active_ports", "failed", "unresolved")

    def __init__(self, unresolved: int) -> None:
        self.unresolved = unresolved
        self.active = 0
        self.failed = 0
        self.active_ports: set[str] = set()


class _SecretsView:
    """``secrets`` in expressions: looked up on use, never listed in full."""

    __slots__ = ("_secrets",)

    def __init__(self, secrets: Secrets) -> None:
        self._secrets = secrets

    def __getitem__(self, name: str) -> str:
        value = self._secrets.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __getattr__(self, name: str) -> str:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class Executor:
    """Runs bundles. One executor serves many runs; its stores are shared by them."""

    def __init__(
        self,
        registry: NodeRegistry,
        *,
        store: EventStore | None = None,
        blobs: BlobStore | None = None,
        secrets: Secrets | None = None,
        kv: KeyValueStore | None = None,
        children: ChildRuns | None = None,
        blob_threshold: int = DEFAULT_BLOB_THRESHOLD,
        allow_private_networks: bool = False,
        flush_interval_s: float = 0.05,
        verify_bundles: bool = True,
        thread_pool: concurrent.futures.Executor | None = None,
    ) -> None:
        self.registry = registry
        self.store: EventStore = store if store is not None else InMemoryEventStore()
        self.blobs: BlobStore = blobs if blobs is not None else InMemoryBlobStore()
        self.secrets: Secrets = secrets if secrets is not None else InMemorySecrets()
        self.kv: KeyValueStore = kv if kv is not None else InMemoryKeyValueStore()
        self.children: ChildRuns = children if children is not None else InMemoryChildRuns()
        self.blob_threshold = blob_threshold
        self.allow_private_networks = allow_private_networks
        self.flush_interval_s = flush_interval_s
        self.verify_bundles = verify_bundles
        self.thread_pool = thread_pool
        self._plans: dict[str, ExecutionPlan] = {}
        self._runs: dict[str, _Run] = {}

    def plan(self, bundle: Bundle | ExecutionPlan) -> ExecutionPlan:
        """The execution plan of a bundle, loaded once per bundle id."""
        if isinstance(bundle, ExecutionPlan):
            return bundle
        plan = self._plans.get(bundle.id)
        if plan is None:
            plan = load_plan(bundle, self.registry, verify_source=self.verify_bundles)
            self._plans[bundle.id] = plan
        return plan

    async def run(
        self,
        bundle: Bundle | ExecutionPlan,
        payload: Any = None,
        *,
        run_id: str | None = None,
        trigger: str | None = None,
        seeds: Mapping[str, Mapping[str, Any]] | None = None,
        services: RunServices | None = None,
    ) -> RunResult:
        """Start a run and wait for its end.

        Args:
            bundle: the compiled flow.
            payload: the trigger's payload (the run input).
            run_id: an id of the caller's; a new one otherwise.
            trigger: the trigger node that fires; by default the only trigger, or the
                ``trigger.manual`` one.
            seeds: node id -> outputs for nodes that do not run but count as succeeded
                with those outputs (run from a node, retry from a failure, replay).
            services: this run's secrets, key-value store and child runs, where they
                differ from the executor's (a platform scopes them to the run's project).
        """
        plan = self.plan(bundle)
        run = _Run(self, plan, run_id or uuid.uuid4().hex, services=services)
        return await self._drive(run, run.start(payload, trigger, dict(seeds or {})))

    async def resume(
        self, bundle: Bundle | ExecutionPlan, run_id: str, *, services: RunServices | None = None
    ) -> RunResult:
        """Continue a run from its durable events (after a crash or a restart)."""
        plan = self.plan(bundle)
        events = await self.store.load(run_id)
        if not events:
            raise RunError(f"no events for run {run_id!r}: nothing to resume")
        run = _Run(self, plan, run_id, rebuild(events, run_id), services=services)
        return await self._drive(run, run.resume())

    async def _drive(self, run: _Run, starting: Any) -> RunResult:
        self._runs[run.run_id] = run
        try:
            await starting
            await run.wait()
        finally:
            self._runs.pop(run.run_id, None)
        return RunResult(run.state, run.plan, self.blobs)

    def cancel(self, run_id: str) -> bool:
        """Cancel a live run of this executor; False when there is none."""
        run = self._runs.get(run_id)
        if run is None:
            return False
        run.cancel()
        return True

    def signal(self, run_id: str, name: str, payload: Any = None) -> bool:
        """Deliver a signal to a live run (wakes a node waiting for it)."""
        run = self._runs.get(run_id)
        if run is None:
            return False
        run.signal(name, payload)
        return True

    def live_state(self, run_id: str) -> RunState | None:
        run = self._runs.get(run_id)
        return run.state if run else None


class BundleChildRuns:
    """Child runs of bundles known by name, run by an executor in this process.

    ``ctx.children.run("name", payload)`` runs ``bundles["name"]`` to its end and returns
    its outputs (``{node_id: {port: value}}``); a child that does not succeed raises a
    ``NodeError`` of kind ``child_run`` carrying the child's error. The platform provides
    a durable implementation (child runs as runs of their own, awaited across restarts).
    """

    def __init__(self, executor: Executor, bundles: Mapping[str, Bundle] | None = None) -> None:
        self.executor = executor
        self.bundles: dict[str, Bundle] = dict(bundles or {})

    async def run(self, flow: str, payload: Any = None) -> dict[str, Any]:
        bundle = self.bundles.get(flow)
        if bundle is None:
            raise NodeError("child_run", f"no flow named {flow!r} to run as a child")
        result = await self.executor.run(bundle, payload)
        if not result.succeeded:
            message = (result.error or {}).get("message", str(result.status))
            raise NodeError(
                "child_run", f"child flow {flow!r} {result.status}: {message}", details=result.error
            )
        return result.outputs()


def seeds_from_run(state: RunState, *, rerun: set[str] | None = None) -> dict[str, dict[str, Any]]:
    """Seeds that replay a previous run's succeeded nodes, except ``rerun``.

    Retry from the failed node: ``seeds_from_run(old)``. Run from node X: pass
    ``rerun = {X} | descendants(X)``.
    """
    rerun = rerun or set()
    return {
        node_id: dict(rec.outputs or {})
        for node_id, rec in state.nodes.items()
        if rec.status is NodeStatus.SUCCEEDED and node_id not in rerun
    }


class _Run:
    """The live execution of one run. Implements the ``StepRuntime`` of ``flow.py``."""

    def __init__(
        self,
        executor: Executor,
        plan: ExecutionPlan,
        run_id: str,
        state: RunState | None = None,
        *,
        services: RunServices | None = None,
    ) -> None:
        self.executor = executor
        self.secrets = (services and services.secrets) or executor.secrets
        self.kv = (services and services.kv) or executor.kv
        self.children = (services and services.children) or executor.children
        self.plan = plan
        self.run_id = run_id
        self.store = executor.store
        self.state = state if state is not None else RunState(run_id)
        self.cancellation = Cancellation()
        self._ready: deque[str] = deque()
        self._queued: set[str] = set()
        self._workers: set[asyncio.Task[None]] = set()
        self._running: dict[str, asyncio.Task[None]] = {}
        self._edge_values: dict[str, Any] = {}
        self._counts: dict[str, _Counts] = {}
        self._resolve_queue: deque[str] = deque()
        self._done = asyncio.get_running_loop().create_future()
        self._stopping = False
        self._last_flush = time.monotonic()
        self._signals: dict[str, deque[Any]] = {}
        self._signal_waiters: dict[str, deque[asyncio.Future[Any]]] = {}
        self._trigger_outputs: dict[str, Any] | None = None
        self._contexts: dict[str, RunContext] = {}

    # -- events ----------------------------------------------------------------------

    def _emit(
        self, etype: str, node_id: str | None = None, data: dict[str, Any] | None = None
    ) -> None:
        event = RunEvent(self.run_id, self.state.seq + 1, etype, node_id, data)
        self.state.apply(event)  # raises before anything is stored if the change is illegal
        self.store.append(event)

    async def _flush(self) -> None:
        await self.store.flush()
        self._last_flush = time.monotonic()

    # -- start / resume --------------------------------------------------------------

    async def start(self, payload: Any, trigger: str | None, seeds: dict[str, Any]) -> None:
        plan = self.plan
        for node_id in seeds:
            if node_id not in plan.nodes or node_id in plan.service_only:
                raise RunError(f"cannot seed {node_id!r}: no such scheduled node")
        trigger_id = self._choose_trigger(trigger, seeds)
        self._emit(
            ev.RUN_STARTED,
            data={
                "payload": externalize(payload, self.executor.blobs, self.executor.blob_threshold),
                "trigger": trigger_id,
                "bundle_id": plan.bundle_id,
                "flow": plan.name,
                "nodes": plan.scheduled,
            },
        )
        for node_id, outputs in seeds.items():
            self._emit(ev.NODE_SEEDED, node_id, {"outputs": dict(outputs)})
        for node_id in plan.triggers:
            if node_id != trigger_id and node_id not in seeds:
                self._emit(ev.NODE_SKIPPED, node_id, {"reason": "another trigger fired"})
        # Durable before anything runs: the run is accepted once run.started is stored.
        await self._flush()
        self._begin()

    def _choose_trigger(self, trigger: str | None, seeds: dict[str, Any]) -> str | None:
        triggers = self.plan.triggers
        if trigger is not None:
            if trigger not in triggers:
                raise RunError(f"{trigger!r} is not a trigger node of this flow")
            return trigger
        if not triggers or all(t in seeds for t in triggers):
            return None
        if len(triggers) == 1:
            return triggers[0]
        manual = [t for t in triggers if self.plan.nodes[t].plan.type == "trigger.manual"]
        if len(manual) == 1:
            return manual[0]
        names = ", ".join(map(repr, triggers))
        raise RunError(f"flow has {len(triggers)} triggers ({names}); name the one that fires")

    async def resume(self) -> None:
        if self.state.finished:
            self._done.set_result(None)
            return
        self._emit(ev.NODE_LOG, None, {"message": "run resumed"})
        self._begin()

    def _begin(self) -> None:
        """Build edge bookkeeping from the state (fresh or rebuilt) and start workers."""
        plan, state = self.plan, self.state
        if state.trigger is not None:
            trig = state.nodes.get(state.trigger)
            if trig is not None and trig.status is NodeStatus.SUCCEEDED:
                self._trigger_outputs = trig.outputs
        for node_id in plan.scheduled:
            self._counts[node_id] = _Counts(len(plan.nodes[node_id].in_edges))
        for node_id in plan.scheduled:
            rec = state.node(node_id)
            if rec.status in NODE_TERMINAL:
                self._resolve_queue.append(node_id)
        self._drain()
        for node_id in plan.scheduled:
            rec = state.nodes[node_id]
            if rec.status in (NodeStatus.RUNNING, NodeStatus.SUSPENDED):
                self._enqueue(node_id)  # it was running at the crash: run it again
            elif rec.status is NodeStatus.PENDING and not plan.nodes[node_id].in_edges:
                if plan.nodes[node_id].trigger:
                    if node_id == state.trigger:
                        self._enqueue(node_id)
                else:
                    self._consider(node_id)
        self._pump()
        self._check_done()

    async def wait(self) -> None:
        timeout = self.plan.timeout_s
        if timeout is None:
            await self._finish()
            return
        started = self.state.started_at or time.time()
        remaining = max(0.0, timeout - (time.time() - started))
        try:
            async with asyncio.timeout(remaining):
                await asyncio.shield(self._done)
        except TimeoutError:
            if not self.state.finished:
                self._stop(
                    ev.RUN_TIMED_OUT,
                    {"kind": "run_timeout", "message": f"run passed its timeout of {timeout}s"},
                )
        await self._finish()

    async def _finish(self) -> None:
        await asyncio.shield(self._done)
        # Workers cancelled by a stop end at their next await; let them go.
        for task in list(self._workers):
            if task is not asyncio.current_task():
                task.cancel()
        if self._workers:
            await asyncio.gather(*self._workers, return_exceptions=True)
        await self._flush()

    # -- scheduling ------------------------------------------------------------------

    def _enqueue(self, node_id: str) -> None:
        if node_id not in self._queued:
            self._queued.add(node_id)
            self._ready.append(node_id)

    def _pump(self) -> None:
        if self._stopping:
            return
        limit = self.plan.max_concurrency
        while self._ready and len(self._workers) < limit:
            task = asyncio.get_running_loop().create_task(self._worker())
            self._workers.add(task)

    async def _worker(self) -> None:
        task = asyncio.current_task()
        assert task is not None
        try:
            while self._ready and not self._stopping:
                node_id = self._ready.popleft()
                self._running[node_id] = task
                try:
                    await self._execute(node_id)
                finally:
                    self._running.pop(node_id, None)
                if self._ready and len(self._workers) < self.plan.max_concurrency:
                    self._pump()
        except asyncio.CancelledError:
            pass  # the node was cancelled; its event is already written
        except Exception as exc:  # an engine or store failure, not a node's
            log.exception("run %s: worker failed", self.run_id)
            self._stop(ev.RUN_FAILED, {"kind": "internal", "message": f"engine error: {exc}"})
        finally:
            self._workers.discard(task)
            if not self._stopping:
                self._pump()
                self._check_done()

    def _check_done(self) -> None:
        if self._stopping or self._workers or self._ready or self._done.done():
            return
        pending = [
            n for n in self.plan.scheduled if self.state.nodes[n].status not in NODE_TERMINAL
        ]
        if pending:
            # Cannot happen for a validated flow; never leave a run hanging if it does.
            self._stop(
                ev.RUN_FAILED,
                {"kind": "internal", "message": f"nodes left undecided: {pending[:5]}"},
            )
            return
        self._emit(ev.RUN_SUCCEEDED)
        self._stopping = True
        self._done.set_result(None)

    def _stop(self, etype: str, error: dict[str, Any] | None) -> None:
        """End the run: cancel running and pending nodes, write the run's last event."""
        if self.state.finished:
            return
        self._stopping = True
        self._ready.clear()
        current = asyncio.current_task()
        for node_id in self.plan.scheduled:
            if self.state.nodes[node_id].status not in NODE_TERMINAL:
                self._emit(ev.NODE_CANCELLED, node_id, {"reason": etype})
        for task in self._running.values():
            if task is not current:
                task.cancel()
        self.cancellation.cancel()
        self._emit(etype, None, {"error": error} if error else None)
        if not self._done.done():
            self._done.set_result(None)

    def cancel(self) -> None:
        self._stop(ev.RUN_CANCELLED, {"kind": "cancelled", "message": "run cancelled"})

    def signal(self, name: str, payload: Any) -> None:
        waiters = self._signal_waiters.get(name)
        while waiters:
            fut = waiters.popleft()
            if not fut.done():
                fut.set_result(payload)
                return
        self._signals.setdefault(name, deque()).append(payload)

    # -- edge resolution -------------------------------------------------------------

    def _edge_value(self, rec: NodeRecord, port: str) -> Any:
        status = rec.status
        if status is NodeStatus.SUCCEEDED:
            outputs = rec.outputs
            return outputs[port] if outputs and port in outputs else _INACTIVE
        if status in (NodeStatus.FAILED, NodeStatus.TIMED_OUT):
            if rec.routed == "stop":
                return _FAILED
            outputs = rec.outputs
            return outputs[port] if outputs and port in outputs else _INACTIVE
        if status is NodeStatus.ABANDONED:
            return _FAILED
        return _INACTIVE  # skipped, cancelled

    def _drain(self) -> None:
        """Resolve the outgoing edges of nodes that reached a terminal state, cascading."""
        queue = self._resolve_queue
        nodes = self.plan.nodes
        states = self.state.nodes
        while queue:
            node_id = queue.popleft()
            rec = states[node_id]
            for edge in nodes[node_id].out_edges:
                value = self._edge_value(rec, edge.source_port)
                self._edge_values[edge.id] = value
                target = edge.target
                if states[target].status is not NodeStatus.PENDING or target in self._queued:
                    continue
                counts = self._counts[target]
                counts.unresolved -= 1
                if value is _FAILED:
                    counts.failed += 1
                elif value is not _INACTIVE:
                    counts.active += 1
                    counts.active_ports.add(edge.target_port)
                self._consider(target)

    def _consider(self, node_id: str) -> None:
        """Run, skip or abandon a pending node once its edges allow a decision."""
        prepared = self.plan.nodes[node_id]
        counts = self._counts[node_id]
        missing_required = bool(prepared.required_ports - counts.active_ports)
        if prepared.join == "all":
            if counts.unresolved:
                return
            if counts.failed:
                self._settle(node_id, ev.NODE_ABANDONED, "an upstream node failed")
            elif prepared.in_edges and not counts.active:
                self._settle(node_id, ev.NODE_SKIPPED, "no input arrived")
            elif missing_required:
                self._settle(node_id, ev.NODE_SKIPPED, "a required input has no value")
            else:
                self._enqueue(node_id)
            return
        # any / first: the first active edge decides, unless a required port still waits.
        if counts.active and not missing_required:
            self._enqueue(node_id)
            if prepared.join == "first":
                self._cancel_losers(node_id)
        elif counts.unresolved:
            return
        elif counts.failed and not counts.active:
            self._settle(node_id, ev.NODE_ABANDONED, "an upstream node failed")
        else:
            self._settle(node_id, ev.NODE_SKIPPED, "no input arrived")

    def _settle(self, node_id: str, etype: str, reason: str) -> None:
        self._emit(etype, node_id, {"reason": reason})
        self._resolve_queue.append(node_id)

    def _cancel_losers(self, join_id: str) -> None:
        """For ``join: first``: cancel what can now only feed the join that already fired."""
        nodes = self.plan.nodes
        states = self.state.nodes
        doomed: set[str] = set()
        # Walk up from the join; a node is doomed when all its data edges lead into the
        # join or into doomed nodes. Reverse-BFS order means successors are seen first.
        frontier = deque(e.source for e in nodes[join_id].in_edges)
        seen: set[str] = set()
        while frontier:
            node_id = frontier.popleft()
            if node_id in seen:
                continue
            targets = {e.target for e in nodes[node_id].out_edges}
            if not targets <= doomed | {join_id}:
                continue  # may become doomed once its other successors are; re-queued then
            seen.add(node_id)
            doomed.add(node_id)
            for e in nodes[node_id].in_edges:
                frontier.append(e.source)
        current = asyncio.current_task()
        for node_id in doomed:
            status = states[node_id].status
            if status in NODE_TERMINAL:
                continue
            self._emit(ev.NODE_CANCELLED, node_id, {"reason": f"{join_id!r} took another branch"})
            self._queued.discard(node_id)
            with contextlib.suppress(ValueError):
                self._ready.remove(node_id)
            task = self._running.get(node_id)
            if task is not None and task is not current:
                task.cancel()
            self._resolve_queue.append(node_id)

    # -- the StepRuntime of flow.py ------------------------------------------------------

    def one(self, edge_id: str) -> Any:
        value = self._edge_values.get(edge_id, _INACTIVE)
        if value is _INACTIVE or value is _FAILED:
            return MISSING
        return resolve(value, self.executor.blobs) if type(value) is dict else value

    def many(self, edge_ids: tuple[str, ...]) -> list[Any]:
        values, blobs = self._edge_values, self.executor.blobs
        return [
            resolve(v, blobs)
            for v in (values.get(e, _INACTIVE) for e in edge_ids)
            if v is not _INACTIVE and v is not _FAILED
        ]

    async def call(self, node_id: str, inputs: dict[str, Any]) -> Any:
        """Run one node to its end: attempts, retries, then its terminal event."""
        prepared = self.plan.nodes[node_id]
        rec = self.state.nodes[node_id]
        attempt = (
            rec.attempt
            if rec.status in (NodeStatus.RUNNING, NodeStatus.SUSPENDED)
            else rec.attempt + 1
        )
        attempt = max(attempt, 1)
        try:
            outputs, attempt = await self._attempts(
                prepared, inputs, attempt, ev.NODE_STARTED, ev.NODE_RETRYING, {}
            )
        except NodeError as error:
            if self.state.nodes[node_id].status in _LIVE:  # else it was cancelled meanwhile
                self._fail(prepared, error)
            return None
        if self.state.nodes[node_id].status not in _LIVE:
            return None  # cancelled while it ran; the result goes nowhere
        self._emit(ev.NODE_SUCCEEDED, node_id, {"attempt": attempt, "outputs": outputs})
        if node_id == self.state.trigger:
            self._trigger_outputs = outputs
        self._resolve_queue.append(node_id)
        self._drain()
        if (
            not prepared.idempotent
            or time.monotonic() - self._last_flush > self.executor.flush_interval_s
        ):
            await self._flush()
        return outputs

    async def _attempts(
        self,
        prepared: PreparedNode,
        inputs: dict[str, Any],
        attempt: int,
        started: str,
        retrying: str,
        base: dict[str, Any],
    ) -> tuple[dict[str, Any], int]:
        """Attempts of a node (or a service step) until one succeeds or retries run out.

        Returns the outputs and the attempt that produced them; raises the last
        ``NodeError``. ``started``/``retrying`` are the event types to write.
        """
        node_id = prepared.id
        retry = prepared.plan.retry
        while True:
            self._emit(started, node_id, {**base, "attempt": attempt})
            if not prepared.idempotent:
                # Durable before its effects: after a crash we know it may have run.
                await self._flush()
            try:
                return await self._attempt(prepared, inputs, attempt, node_id), attempt
            except NodeError as error:
                node = self.state.nodes.get(node_id)
                cancelled = node is not None and node.status not in _LIVE
                if cancelled or not should_retry(retry, error, attempt):
                    raise
                delay = retry_delay(retry, attempt, jitter_seed(self.run_id, node_id, attempt))
                data = {**base, "attempt": attempt, "error": error.to_dict(), "delay_s": delay}
                self._emit(retrying, node_id, data)
                if delay > 0:
                    await asyncio.sleep(delay)
                attempt += 1

    def _fail(self, prepared: PreparedNode, error: NodeError) -> None:
        routed = prepared.plan.on_error
        etype = ev.NODE_TIMED_OUT if error.kind == KIND_TIMEOUT else ev.NODE_FAILED
        self._emit(
            etype,
            prepared.id,
            {"attempt": error.attempt, "error": error.to_dict(), "routed": routed},
        )
        self._resolve_queue.append(prepared.id)
        self._drain()
        if routed == "stop":
            self._stop(ev.RUN_FAILED, error.to_dict())

    async def _execute(self, node_id: str) -> None:
        prepared = self.plan.nodes[node_id]
        await prepared.step(self)

    # -- one attempt -------------------------------------------------------------------

    async def _attempt(
        self, prepared: PreparedNode, bound: dict[str, Any], attempt: int, node_id: str
    ) -> dict[str, Any]:
        """One attempt of a node inside the error boundary; returns its set output ports."""
        try:
            return await self._attempt_unguarded(prepared, bound, attempt, node_id)
        except NodeError as exc:
            raise NodeError.from_exception(exc, node_id=node_id, attempt=attempt) from None
        except TimeoutError:
            raise NodeError(
                KIND_TIMEOUT,
                f"node {node_id!r} timed out after {prepared.plan.timeout_s}s",
                node_id=node_id,
                attempt=attempt,
            ) from None
        except Exception as exc:  # the one boundary around node code
            raise NodeError.from_exception(exc, node_id=node_id, attempt=attempt) from None

    async def _attempt_unguarded(
        self, prepared: PreparedNode, bound: dict[str, Any], attempt: int, node_id: str
    ) -> dict[str, Any]:
        cls = prepared.cls
        # Bound by the step function from resolved edge values; MISSING means "default".
        values = {port: value for port, value in bound.items() if value is not MISSING}
        try:
            inputs = cls.Inputs.model_validate(values)
        except ValidationError as exc:
            raise NodeError(
                KIND_INVALID_INPUTS, f"inputs: {format_validation_error(exc)}"
            ) from None

        ctx = self._context(node_id, attempt, prepared.trigger)
        node = prepared.instance
        if node is None or prepared.uses_names:
            names = self._names(prepared, values)
            ctx.render = lambda text, extra: render_template(text, {**names, **extra})
            if node is None:
                params = prepared.params.render(names)
                try:
                    node = cls(cls.Params.model_validate(params))
                except ValidationError as exc:
                    raise NodeError(
                        KIND_INVALID_PARAMS, f"params: {format_validation_error(exc)}"
                    ) from None

        timeout = prepared.plan.timeout_s
        if prepared.is_async:
            if timeout is None:
                result = await node.run(inputs, ctx)
            else:
                async with asyncio.timeout(timeout):
                    result = await node.run(inputs, ctx)
        else:
            loop = asyncio.get_running_loop()
            fut = loop.run_in_executor(self.executor.thread_pool, node.run, inputs, ctx)
            result = await (fut if timeout is None else asyncio.wait_for(fut, timeout))
        return self._outputs(prepared, result)

    def _context(self, node_id: str, attempt: int, trigger: bool) -> RunContext:
        # Built slot by slot: this runs once per attempt, on the hot path, and every
        # service is already at hand (RunContext.__init__ would re-check each default).
        executor = self.executor
        ctx = object.__new__(RunContext)
        ctx.run_id = self.run_id
        ctx.node_id = node_id
        ctx.attempt = attempt
        ctx.logger = log
        ctx.secrets = self.secrets
        ctx.blobs = executor.blobs
        ctx.cancellation = self.cancellation
        ctx.kv = self.kv
        ctx.children = self.children
        ctx.suspension = _Suspension(self, node_id, attempt)
        ctx.services = _Services(self, node_id, attempt)
        ctx.trigger_payload = self._payload() if trigger else None
        ctx.allow_private_networks = executor.allow_private_networks
        ctx.render = _render_plain
        return ctx

    def _outputs(self, prepared: PreparedNode, result: Any) -> dict[str, Any]:
        if isinstance(result, BaseModel):
            ports = result.model_fields_set
            raw = {name: getattr(result, name) for name in ports}
        elif result is None:
            return {}
        elif isinstance(result, dict):
            if prepared.static_outputs:
                try:
                    model = prepared.cls.Outputs.model_validate(result)
                except ValidationError as exc:
                    raise NodeError(
                        KIND_INVALID_OUTPUTS, f"outputs: {format_validation_error(exc)}"
                    ) from None
                raw = {
                    name: getattr(model, name)
                    for name in result
                    if name in prepared.cls.Outputs.model_fields
                }
            else:
                raw = result
        else:
            raise NodeError(
                KIND_INVALID_OUTPUTS, f"run() returned a {type(result).__name__}, not Outputs"
            )
        unknown = raw.keys() - prepared.output_names
        if unknown:
            raise NodeError(KIND_INVALID_OUTPUTS, f"unknown output ports: {sorted(unknown)}")
        blobs, threshold = self.executor.blobs, self.executor.blob_threshold
        out = {}
        for port, value in raw.items():
            if type(value) not in _PLAIN:
                value = to_jsonable_python(value)
            out[port] = externalize(value, blobs, threshold)
        return out

    def _payload(self) -> Any:
        return resolve(self.state.payload, self.executor.blobs)

    def _names(self, prepared: PreparedNode, inputs: dict[str, Any]) -> dict[str, Any]:
        """The names an expression of this node may read."""
        blobs = self.executor.blobs
        refs = prepared.params.references
        allowed = self.plan.ancestors(prepared.id) if refs is None else refs
        nodes: dict[str, Any] = {}
        for node_id in allowed:
            rec = self.state.nodes.get(node_id)
            if rec is not None and rec.outputs is not None and rec.status is NodeStatus.SUCCEEDED:
                nodes[node_id] = {k: resolve(v, blobs) for k, v in rec.outputs.items()}
        trigger = {k: resolve(v, blobs) for k, v in (self._trigger_outputs or {}).items()}
        started = self.state.started_at or time.time()
        return {
            "inputs": {k: inputs.get(k) for k in prepared.cls.Inputs.model_fields} | inputs,
            "nodes": nodes,
            "trigger": trigger,
            "secrets": _SecretsView(self.secrets),
            "run": {
                "id": self.run_id,
                "started_at": datetime.fromtimestamp(started, UTC).isoformat(),
            },
        }


class _Suspension:
    """Durable waiting for one node invocation, replayed from events after a restart.

    The k-th wait of a node is keyed by k: when the node runs again after a crash, a wait
    that had already resumed returns its recorded result at once, and a timer that was
    running waits only for what is left of it.
    """

    __slots__ = ("_attempt", "_calls", "_node_id", "_run")

    def __init__(self, run: _Run, node_id: str, attempt: int) -> None:
        self._run = run
        self._node_id = node_id
        self._attempt = attempt
        self._calls = 0

    def _next(self) -> tuple[str, dict[str, Any] | None, dict[str, Any] | None]:
        call = f"{self._attempt}.{self._calls}"
        self._calls += 1
        replay = self._run.state.replay
        return (
            call,
            replay.get((self._node_id, f"suspend:{call}")),
            replay.get((self._node_id, f"resume:{call}")),
        )

    async def sleep_until(self, when: datetime) -> None:
        call, suspended, resumed = self._next()
        if resumed is not None:
            return
        run = self._run
        if suspended is None:
            run._emit(ev.NODE_SUSPENDED, self._node_id, {"call": call, "until": when.isoformat()})
            await run._flush()
        else:
            when = datetime.fromisoformat(suspended["until"])
            if run.state.nodes[self._node_id].status is NodeStatus.RUNNING:
                run._emit(
                    ev.NODE_SUSPENDED, self._node_id, {"call": call, "until": when.isoformat()}
                )
        delay = (when - datetime.now(UTC)).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)
        run._emit(ev.NODE_RESUMED, self._node_id, {"call": call})

    async def wait_for_signal(self, name: str) -> Any:
        call, _, resumed = self._next()
        if resumed is not None:
            return resumed.get("payload")
        run = self._run
        if run.state.nodes[self._node_id].status is NodeStatus.RUNNING:
            run._emit(ev.NODE_SUSPENDED, self._node_id, {"call": call, "signal": name})
            await run._flush()
        queued = run._signals.get(name)
        if queued:
            payload = queued.popleft()
        else:
            fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            run._signal_waiters.setdefault(name, deque()).append(fut)
            payload = await fut
        run._emit(ev.NODE_RESUMED, self._node_id, {"call": call, "payload": payload})
        return payload


class _ServiceNode:
    """A node on a service edge, called by its agent as a durable child step."""

    def __init__(self, run: _Run, caller: str, prepared: PreparedNode, services: _Services) -> None:
        self._run = run
        self._caller = caller
        self._prepared = prepared
        self._services = services
        self.node_id = prepared.id
        self.type = prepared.cls.spec.type
        self.title = prepared.cls.spec.title
        schema = prepared.cls.tool_schema(prepared.params.static)
        self.description = schema["description"]
        self.inputs_schema = schema["parameters"]

    async def call(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        run, prepared = self._run, self._prepared
        call = self._services.next_call()
        recorded = run.state.replay.get((self._caller, f"step:{call}"))
        base = {"caller": self._caller, "call": call}
        if recorded is None:
            try:
                outputs, attempt = await run._attempts(
                    prepared, dict(inputs), 1, ev.STEP_STARTED, ev.STEP_RETRYING, base
                )
            except NodeError as error:
                data = {**base, "attempt": error.attempt, "error": error.to_dict()}
                run._emit(ev.STEP_FAILED, prepared.id, data)
                raise
            data = {**base, "attempt": attempt, "outputs": outputs}
            run._emit(ev.STEP_SUCCEEDED, prepared.id, data)
            if not prepared.idempotent:
                await run._flush()
        elif recorded["type"] == ev.STEP_SUCCEEDED:
            outputs = recorded["outputs"]  # replayed after a restart: not called again
        else:
            raise NodeError.from_dict(recorded["error"])
        return {k: resolve(v, run.executor.blobs) for k, v in outputs.items()}


class _Services:
    """The service nodes of one node attempt; calls are numbered for replay."""

    __slots__ = ("_attempt", "_calls", "_node_id", "_run")

    def __init__(self, run: _Run, node_id: str, attempt: int) -> None:
        self._run = run
        self._node_id = node_id
        self._attempt = attempt
        self._calls = 0

    def next_call(self) -> str:
        call = f"{self._attempt}.{self._calls}"
        self._calls += 1
        return call

    def get(self, kind: str) -> list[Any]:
        plan = self._run.plan
        ids = plan.nodes[self._node_id].services.get(kind, [])
        return [_ServiceNode(self._run, self._node_id, plan.nodes[i], self) for i in ids]


__all__ = [
    "BundleChildRuns",
    "Executor",
    "RunError",
    "RunResult",
    "RunServices",
    "seeds_from_run",
]
