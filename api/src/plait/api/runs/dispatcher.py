"""Run dispatch: who executes a run next (ARCHITECTURE.md §6).

The unit of work is a run. A run's row is committed ``queued`` (in the transaction of
the request that starts it) *before* it is dispatched, so the database — never the
dispatcher's memory — is the truth of what there is to do: a run dispatched to a process
that dies is found ``queued`` or ``running`` on the next start and executed, or resumed
from its durable events without running a succeeded node again.

``RunDispatcher`` is the interface; ``LocalRunDispatcher`` runs runs as asyncio tasks in
this process, at most ``settings.run_workers`` at a time (the embedded default). The
BullMQ dispatcher (``queue.py``) implements the same interface at scale, with job id =
run id + resume sequence, so a duplicate delivery is harmless; here a run id dispatched
while it is already in hand is ignored for the same reason. ``plait worker`` executes
the queue's runs with a ``LocalRunDispatcher`` that does not resume left-behind runs at
start (the queue and its reconciler say what to run) and *claims* a run it resumes
(one durable event first), so two executors can never both go on from the same events:
the second one's claim conflicts on ``UNIQUE(run_id, seq)`` and it lets the run go.

Every terminal status is an event: a run cancelled before it started, or one that cannot
start (its flow no longer compiles), gets its ``run.cancelled`` / ``run.failed`` event
through the same store as the engine's, so the row, the history and the live sockets
all say the same thing.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import select

from plait.node_runner import events as ev
from plait.node_runner.engine import Executor, RunError, RunResult, RunServices
from plait.node_runner.errors import BundleError, FlowError
from plait.node_runner.events import RunEvent
from plait.node_runner.execution_plan import ExecutionPlan
from plait.node_runner.state import NODE_TERMINAL, NodeStatus, rebuild

from ..db.models import Flow, FlowVersion, Run
from ..db.session import UNREACHABLE
from ..platform import Platform
from ..services.runs import MAX_CHILD_DEPTH
from .children import DatabaseChildRuns
from .hub import RunEventHub
from .kv import DatabaseKeyValueStore
from .plans import PlanCache
from .secrets import ProjectSecrets
from .store import CURRENT_RUN, DatabaseEventStore, RunFenced, StoreClosed

log = logging.getLogger(__name__)

ACTIVE_STATUSES = ("queued", "running")
DEFAULT_GRACE_S = 10.0
# How long a signal for a run about to start (or resume) waits for it.
SIGNAL_WAIT_S = 5.0
# A run stopped by a database outage is tried again this often until the database answers.
OUTAGE_RETRY_S = 1.0


class DispatcherClosed(RuntimeError):
    """The dispatcher is stopping and accepts no more runs."""


class RunDispatcher(Protocol):
    """Delivers runs to whoever executes them, and reaches runs in execution."""

    # The flows' plans, compiled once per process: the API checks a run against its
    # plan before accepting it.
    plans: PlanCache

    async def start(self) -> None:
        """Begin executing, first the runs a previous process left queued or running."""

    async def stop(self, grace_s: float = DEFAULT_GRACE_S) -> None:
        """Stop accepting runs; give those in flight ``grace_s`` to end, then leave them
        to be resumed by the next start."""

    async def dispatch(
        self, run_id: str, *, child: bool = False, spec: RunSpec | None = None
    ) -> None:
        """Execute a run whose row is committed ``queued`` (or resume a ``running`` one).
        A child run is executed on its parent's account, outside the worker limit.
        ``spec``, when the caller has it (the router prepares it with its route table),
        spares reading the run back from the database."""

    async def wait(self, run_id: str, timeout_s: float | None = None) -> bool:
        """Wait until the run is no longer executing; False when ``timeout_s`` ran out."""
        ...

    async def cancel(self, run_id: str) -> bool:
        """Cancel a queued or running run; False when there was nothing to cancel."""
        ...

    async def signal(self, run_id: str, name: str, payload: Any = None) -> bool:
        """Deliver a signal to a running run; False when it is not running."""
        ...

    def add_listener(self, listener: Callable[[list[RunEvent]], None]) -> None:
        """Call ``listener`` (on the event loop) with durable events of the runs this
        process dispatched: at least every ``http.respond`` node's ``node.succeeded``
        and every run's terminal event (the router answers requests from them)."""


RunListener = Callable[[list[RunEvent]], None]


@dataclass(slots=True)
class RunSpec:
    """What executing one run needs, read from its row in one transaction."""

    run_id: str
    workspace_id: str
    project_id: str
    flow_id: str
    input: Any
    trigger_node: str | None
    seeds: dict[str, Any] | None
    resume: bool
    plan: ExecutionPlan
    secrets: ProjectSecrets


@dataclass(slots=True)
class _Job:
    run_id: str
    child: bool
    spec: RunSpec | None = None  # given by the caller of a fresh run; else loaded
    task: asyncio.Task[None] | None = None
    waiting: bool = True  # for a worker slot
    live: bool = False  # in the executor
    cancel_requested: bool = False
    children: DatabaseChildRuns | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(slots=True)
class _Owner:
    """Whose run it is, for publishing its events; and its plan, for its result."""

    workspace_id: str
    flow_id: str
    plan: ExecutionPlan | None = None


class RunEventWriter:
    """What every dispatcher shares: the database event store, live events of what it
    writes, listeners, and ending a run that no engine here executes.

    Subclasses say whether a run is executed in this process (``_is_live``) and give
    its result (``_outcome``).
    """

    def __init__(self, platform: Platform, hub: RunEventHub, *, plans: PlanCache | None) -> None:
        self.platform = platform
        self.hub = hub
        self.plans = plans or PlanCache(platform.registry)
        self.store = DatabaseEventStore(
            platform.db, outcome=self._outcome, on_durable=self._publish, on_fenced=self._fenced
        )
        self._owners: dict[str, _Owner] = {}
        self._listeners: list[RunListener] = []
        self._closing = False

    def add_listener(self, listener: RunListener) -> None:
        self._listeners.append(listener)

    def _is_live(self, run_id: str) -> bool:
        return False

    def _outcome(self, run_id: str) -> Any:
        return None

    def _fenced(self, run_ids: set[str]) -> None:
        return None

    async def _end_outside_engine(self, run_id: str, etype: str, error: dict[str, Any]) -> bool:
        """End a run the engine is not executing, with its terminal event (and a
        ``node.cancelled`` for each node left undecided). False when it already ended,
        or when another writer (an executor) wrote the run's next event first."""
        if self._closing:
            return False
        found = await asyncio.to_thread(self._owner_and_events, run_id)
        if found is None:
            return False
        owner, events = found
        state = rebuild(events, run_id)
        if state.finished:
            return False
        seq = state.seq
        closing: list[RunEvent] = []
        for node_id, record in state.nodes.items():
            if record.status not in NODE_TERMINAL:
                seq += 1
                closing.append(RunEvent(run_id, seq, ev.NODE_CANCELLED, node_id, {"reason": etype}))
        closing.append(RunEvent(run_id, seq + 1, etype, None, {"error": error}))
        self._owners.setdefault(run_id, owner)
        # On the run's behalf, so a conflict with an executor's write is ours to see.
        token = CURRENT_RUN.set(run_id)
        try:
            for event in closing:
                self.store.append(event)
            await self.store.flush()
        except RunFenced:
            return False
        finally:
            CURRENT_RUN.reset(token)
            if not self._is_live(run_id):
                self._owners.pop(run_id, None)
                self.store.forget(run_id)
        return True

    def _owner_and_events(self, run_id: str) -> tuple[_Owner, list[RunEvent]] | None:
        with self.platform.db.sessions() as session:
            run = session.get(Run, run_id)
            if run is None or run.status not in ACTIVE_STATUSES:
                return None
            owner = _Owner(run.workspace_id, run.flow_id)
        return owner, self.store.load_sync(run_id)

    def _publish(self, events: list[RunEvent]) -> None:
        groups: defaultdict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for event in events:
            owner = self._owners.get(event.run_id)
            if owner is not None:
                groups[owner.workspace_id, owner.flow_id].append(event.to_dict())
        for (workspace_id, flow_id), batch in groups.items():
            self.hub.publish(workspace_id, flow_id, batch)
        for listener in self._listeners:
            try:
                listener(events)
            except Exception:
                log.exception("a run event listener failed")


class LocalRunDispatcher(RunEventWriter):
    """Runs runs in this process: asyncio tasks, at most ``workers`` at a time.

    One ``Executor`` serves every run, with the database event store, the platform's
    blob store and, per run, the project's secrets, the flow's key-value store and
    durable child runs. As ``plait serve``'s dispatcher it assumes it is the only
    executor of the database's runs and resumes those left behind at start; in a
    ``plait worker`` (``resume_left_behind=False, claim=True``) the queue gives it runs.
    """

    def __init__(
        self,
        platform: Platform,
        hub: RunEventHub,
        *,
        workers: int | None = None,
        plans: PlanCache | None = None,
        resume_left_behind: bool = True,
        claim: bool = False,
        name: str = "this process",
    ) -> None:
        super().__init__(platform, hub, plans=plans)
        self.name = name
        self.executor = Executor(
            platform.registry,
            store=self.store,
            blobs=platform.blobs,
            allow_private_networks=platform.settings.allow_private_networks,
        )
        self.resume_left_behind = resume_left_behind
        self.claim = claim
        # Top-level runs that stopped because the database could not be reached. As the
        # only executor (``resume_left_behind``) this dispatcher tries them again itself;
        # in a worker, the queue worker hands them back to the queue.
        self.outages: set[str] = set()
        self._slots = asyncio.Semaphore(workers or platform.settings.run_workers)
        self._jobs: dict[str, _Job] = {}
        self._accepting = False

    # -- the RunDispatcher interface -------------------------------------------------------

    async def start(self) -> None:
        self._accepting = True
        if not self.resume_left_behind:
            return
        left = await asyncio.to_thread(self._left_behind)
        if left:
            log.info("resuming %d run(s) left queued or running", len(left))
        for run_id, child in left:
            await self.dispatch(run_id, child=child)

    async def stop(self, grace_s: float = DEFAULT_GRACE_S) -> None:
        self._accepting = False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_s
        # Runs at work get the grace period to finish. Runs that are only waiting (for a
        # signal, a timer) or not started yet would not finish in it: they are left at
        # once, as they are, to the next start.
        while (busy := [j.task for j in self._jobs.values() if j.task and self._busy(j)]) and (
            remaining := deadline - loop.time()
        ) > 0:
            await asyncio.wait(busy, timeout=min(remaining, 0.05))
        try:
            # What the runs did up to now stays; what they do from here on is lost as in
            # a crash, and they resume from it on the next start.
            await asyncio.wait_for(self.store.flush(), timeout=max(grace_s, 1.0))
        except Exception:
            log.exception("could not flush run events while stopping")
        self._closing = True
        self.store.close()
        unfinished = [job for job in self._jobs.values() if job.task is not None]
        for job in unfinished:
            if job.live:
                self.executor.cancel(job.run_id)  # its events go nowhere now
            assert job.task is not None
            job.task.cancel()
        if unfinished:
            log.info("left %d run(s) to resume on the next start", len(unfinished))
            await asyncio.gather(*(j.task for j in unfinished if j.task), return_exceptions=True)

    def _busy(self, job: _Job, depth: int = 0) -> bool:
        """A job executing a run that has a node at work: running, and not merely
        waiting for a child run that is itself only waiting."""
        if not job.live or job.task is None or job.task.done():
            return False
        state = self.executor.live_state(job.run_id)
        if state is None:
            return True  # starting or ending: let it
        running = sum(record.status is NodeStatus.RUNNING for record in state.nodes.values())
        awaited = job.children.awaited if job.children is not None else set()
        if running > len(awaited) or depth > MAX_CHILD_DEPTH:
            return True
        return any(
            self._busy(child, depth + 1)
            for child in (self._jobs.get(run_id) for run_id in awaited)
            if child is not None
        )

    async def dispatch(
        self, run_id: str, *, child: bool = False, spec: RunSpec | None = None
    ) -> None:
        # A child run belongs to a parent still in flight, which may use its grace period.
        if self._closing or not (self._accepting or child):
            raise DispatcherClosed("the server is stopping; the run starts when it is back")
        if run_id in self._jobs:
            return  # already in hand: a duplicate delivery
        job = _Job(run_id, child, spec)
        self._jobs[run_id] = job
        job.task = asyncio.get_running_loop().create_task(self._execute(job))

    async def wait(self, run_id: str, timeout_s: float | None = None) -> bool:
        job = self._jobs.get(run_id)
        if job is None:
            return True
        try:
            await asyncio.wait_for(job.done.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    async def cancel(self, run_id: str) -> bool:
        job = self._jobs.get(run_id)
        if job is not None and job.live:
            return self.executor.cancel(run_id)
        if job is not None:
            job.cancel_requested = True
            if job.waiting and job.task is not None:
                job.task.cancel()
        error = {"kind": "cancelled", "message": "run cancelled"}
        return await self._end_outside_engine(run_id, ev.RUN_CANCELLED, error)

    async def signal(self, run_id: str, name: str, payload: Any = None) -> bool:
        if self.executor.signal(run_id, name, payload):
            return True
        job = self._jobs.get(run_id)
        if job is None:
            return False
        # In hand but not in the executor yet (starting, or resuming after a restart):
        # give it a moment rather than refuse a signal for a run that is about to wait.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SIGNAL_WAIT_S
        while not job.done.is_set() and loop.time() < deadline:
            await asyncio.sleep(0.01)
            if self.executor.signal(run_id, name, payload):
                return True
        return False

    # -- executing ----------------------------------------------------------------------

    async def _execute(self, job: _Job) -> None:
        try:
            if job.child:
                await self._run(job)
            else:
                async with self._slots:
                    await self._run(job)
        except asyncio.CancelledError:
            if not (job.cancel_requested or self._closing):
                raise
        except RunFenced:
            if job.run_id not in self.store.unavailable:
                log.info("run %s: left to the executor that wrote its events first", job.run_id)
        except StoreClosed:
            pass  # stopping: the run resumes on the next start
        except UNREACHABLE as exc:
            log.warning(
                "run %s: the database cannot be reached (%s); trying again in %g s",
                job.run_id,
                exc.__class__.__name__,
                OUTAGE_RETRY_S,
            )
            self.store.unavailable.add(job.run_id)
        except Exception:
            log.exception("run %s: dispatch failed", job.run_id)
        finally:
            self._jobs.pop(job.run_id, None)
            self.store.forget(job.run_id)
            if job.run_id in self.store.unavailable:
                self.store.unavailable.discard(job.run_id)
                self._after_outage(job)
            job.done.set()

    def _after_outage(self, job: _Job) -> None:
        # A child run is resumed by its parent, which the outage stopped as well (its
        # node waiting for the child runs again and finds it).
        if job.child or self._closing:
            return
        self.outages.add(job.run_id)
        if self.resume_left_behind:
            asyncio.get_running_loop().call_later(OUTAGE_RETRY_S, self._retry, job.run_id)

    def _retry(self, run_id: str) -> None:
        if run_id not in self.outages or not self._accepting or self._closing:
            return
        self.outages.discard(run_id)
        task = asyncio.get_running_loop().create_task(self.dispatch(run_id))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def _run(self, job: _Job) -> None:
        job.waiting = False
        run_id = job.run_id
        try:
            spec = job.spec or await asyncio.to_thread(self._load, run_id)
        except (FlowError, BundleError) as exc:
            # The stored flow no longer compiles (a node was removed since it was queued).
            error = {"kind": "invalid_flow", "message": f"the flow does not compile: {exc}"}
            await self._end_outside_engine(run_id, ev.RUN_FAILED, error)
            return
        if spec is None or job.cancel_requested or self._closing:
            return
        if not (self._accepting or job.child):
            return  # stopping: it stays queued (or running) for the next start
        owner = _Owner(spec.workspace_id, spec.flow_id, spec.plan)
        self._owners[run_id] = owner
        # The engine's tasks inherit it: a flush knows on whose behalf it waits.
        CURRENT_RUN.set(run_id)
        job.children = DatabaseChildRuns(self, spec)
        services = RunServices(
            secrets=spec.secrets,
            kv=DatabaseKeyValueStore(self.platform.db, spec.workspace_id, spec.flow_id),
            children=job.children,
        )
        job.live = True
        try:
            if self.claim and spec.resume:
                await self._claim(run_id)
            if spec.resume:
                await self.executor.resume(spec.plan, run_id, services=services)
            else:
                await self.executor.run(
                    spec.plan,
                    spec.input,
                    run_id=run_id,
                    trigger=spec.trigger_node,
                    seeds=spec.seeds,
                    services=services,
                )
        except RunError as exc:
            # The request checked the trigger and seeds against the plan, so this is a run
            # whose stored start no longer fits its flow.
            await self._end_outside_engine(
                run_id, ev.RUN_FAILED, {"kind": "invalid_start", "message": str(exc)}
            )
        finally:
            job.live = False
            self._owners.pop(run_id, None)

    def _load(self, run_id: str) -> RunSpec | None:
        """The run's spec, or None when it is gone or already ended."""
        platform = self.platform
        with platform.db.sessions() as session:
            run = session.get(Run, run_id)
            if run is None or run.status not in ACTIVE_STATUSES:
                return None
            flow = session.get(Flow, run.flow_id)
            if flow is None:
                return None
            document = run.document
            if document is None and run.version_id is not None:
                version = session.get(FlowVersion, run.version_id)
                document = version.document if version is not None else None
            if document is None:
                raise FlowError("its flow version was deleted")
            # run.started and the row's "running" are written in one transaction: a
            # running run has events to resume from, a queued one has none.
            resume = run.status == "running"
            secrets = ProjectSecrets.load(
                session, platform.secret_box, run.workspace_id, flow.project_id
            )
            spec = RunSpec(
                run_id=run.id,
                workspace_id=run.workspace_id,
                project_id=flow.project_id,
                flow_id=run.flow_id,
                input=run.input,
                trigger_node=run.trigger_node,
                seeds=run.seeds,
                resume=resume,
                plan=self.plans.plan_for(document),
                secrets=secrets,
            )
        if resume:
            started = self.store.load_sync(run_id, limit=1)
            recorded = started[0].data.get("bundle_id") if started else None
            if recorded is not None and recorded != spec.plan.bundle_id:
                raise FlowError(
                    "it now compiles to another bundle (the compiler or a node changed since"
                    " the run started), so it cannot resume; start it again"
                )
        return spec

    def _left_behind(self) -> list[tuple[str, bool]]:
        with self.platform.db.sessions() as session:
            rows = session.execute(
                select(Run.id, Run.parent_run_id)
                .where(Run.status.in_(ACTIVE_STATUSES))
                .order_by(Run.created_at)
            )
            return [(run_id, parent is not None) for run_id, parent in rows]

    async def _claim(self, run_id: str) -> None:
        """Write one event at the run's next ``seq`` before resuming it: of two executors
        resuming the same events, only one can (the other gets ``RunFenced``)."""
        seq = await asyncio.to_thread(self.store.last_seq, run_id)
        self.store.append(
            RunEvent(run_id, seq + 1, ev.NODE_LOG, None, {"message": f"claimed by {self.name}"})
        )
        await self.store.flush()

    def _is_live(self, run_id: str) -> bool:
        job = self._jobs.get(run_id)
        return job is not None and job.live

    def _fenced(self, run_ids: set[str]) -> None:
        # Stop them now, not at their next flush: a node that only waits (a timer) would
        # otherwise go on holding the run. Their last events go nowhere (fenced).
        for run_id in run_ids:
            self.executor.cancel(run_id)

    # -- store callbacks (on the event loop) -----------------------------------------------

    def _outcome(self, run_id: str) -> Any:
        """The result stored with a run's terminal event: its sink nodes' outputs (large
        values stay blob references)."""
        owner = self._owners.get(run_id)
        state = self.executor.live_state(run_id)
        if owner is None or owner.plan is None or state is None:
            return None
        return RunResult(state, owner.plan, self.platform.blobs).outputs(resolve_blobs=False)
