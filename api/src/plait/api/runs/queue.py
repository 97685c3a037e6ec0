"""Runs delivered to ``plait worker`` processes over Redis by BullMQ (docs/scale.md).

Three parts, all on one Redis under ``settings.redis_prefix``:

* ``QueueDispatcher`` — the ``RunDispatcher`` of processes that accept runs but never
  execute them (``plait serve``/``plait api``/``plait router`` with ``PLAIT_QUEUE=bullmq``):
  ``dispatch`` adds one BullMQ job per delivery of a run; cancel and signals go to the
  worker that holds the run over a control channel; ``wait`` and the router's answers
  come back on this process's *reply channel* (one subscription per process).
* ``QueueWorker`` — the worker side: BullMQ ``Worker`` s feed a ``LocalRunDispatcher``
  that executes the runs (and their child runs, in the same process, outside the queue).
* ``Reconciler`` — in every process of both kinds: the database is the truth of what
  runs are active, the queue only says who executes them next; a run active in the
  database with no job in the queue (Redis was flushed or restarted) gets one.

Key contracts:

- One job per delivery of a run, job id ``<run_id>.<seq>`` where ``seq`` is the run's
  last durable event when enqueued (0 for a fresh run), so adding the same delivery
  twice (two reconcilers, a producer racing a reconciler) is one job. A ``.`` separates
  the two: BullMQ builds its keys with ``:``.
- A duplicate delivery is harmless: the executor of a resumed run first claims it with
  an event at the next ``seq`` (``UNIQUE(run_id, seq)``), and an executor whose write
  conflicts stops that run quietly (``store.RunFenced``).
- A worker killed with SIGKILL loses its job's lock; BullMQ's stalled check moves the job
  back to wait, and another worker resumes the run from its durable events: at most
  ``queue_lock_s + queue_stalled_interval_s`` later.
- A worker stopped with SIGTERM fetches nothing more, gives its runs at work a grace
  period, then flushes the rest and hands each back as a new delivery, at once.
- A reply reaches the process that dispatched the run, after the events it reports are
  durable; a lost reply is covered by reading the database (``wait``) or the route's
  timeout (the router answers 504, the run goes on).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections import OrderedDict, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from plait.node_runner import events as ev
from plait.node_runner.events import RunEvent

from ..db.models import Run, now
from ..platform import Platform
from .dispatcher import (
    ACTIVE_STATUSES,
    DEFAULT_GRACE_S,
    OUTAGE_RETRY_S,
    SIGNAL_WAIT_S,
    DispatcherClosed,
    LocalRunDispatcher,
    RunEventWriter,
    RunSpec,
)
from .hub import RunEventHub
from .plans import PlanCache
from .store import _EVENTS, TERMINAL_STATUS

if TYPE_CHECKING:
    from bullmq import Job, Queue, Worker
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

QUEUE_NAME = "runs"
JOB_NAME = "run"
# Jobs leave Redis when they end, so a job id (a delivery) can be added again later,
# and Redis holds only what is still to do. attempts=1: a run's failure is a run event,
# never a job failure to retry.
JOB_OPTIONS: dict[str, Any] = {"removeOnComplete": True, "removeOnFail": True, "attempts": 1}
# A job found stalled this many times is failed by BullMQ (and then found by the
# reconciler, as the database still has its run active). High: a stall is a dead worker,
# which says nothing about the run.
MAX_STALLED_COUNT = 1000
RESPOND_TYPE = "http.respond"
# How long ``cancel`` lets the worker holding a run end it before ending it here.
CANCEL_HANDOFF_S = 3.0
# ``wait`` reads the run's status this often besides listening for its end.
WAIT_POLL_S = 0.5
# A signal is published again this often until a worker holding the run answers.
SIGNAL_RETRY_S = 0.5
# Runs younger than this are left to the process that created them (it is enqueuing).
RECONCILE_MIN_AGE_S = 5.0
REDIS_RETRY_S = 2.0
# A dispatch waits this long for Redis; after that the run stays queued for the reconciler.
ENQUEUE_TIMEOUT_S = 5.0
_TERMINAL = frozenset(TERMINAL_STATUS.values())


def job_id(run_id: str, seq: int) -> str:
    """The id of the delivery of ``run_id`` whose executor starts after event ``seq``."""
    return f"{run_id}.{seq}"


def run_of(job: str) -> str:
    """The run id of a job id."""
    return job.rsplit(".", 1)[0]


def bull_prefix(redis_prefix: str) -> str:
    """BullMQ's key prefix: its keys are ``{prefix}bull:runs:…``."""
    return f"{redis_prefix}bull"


def control_channel(redis_prefix: str) -> str:
    """Where cancels and signals go to every worker (the one holding the run acts)."""
    return f"{redis_prefix}runs:control"


def reply_channel(redis_prefix: str, process_id: str) -> str:
    """One per dispatching process: the events of the runs it dispatched, and acks."""
    return f"{redis_prefix}runs:reply:{process_id}"


def queue_options(platform: Platform) -> dict[str, Any]:
    settings = platform.settings
    return {"connection": settings.redis_url, "prefix": bull_prefix(settings.redis_prefix)}


def redacted(url: str) -> str:
    """A Redis URL without its password, to print."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.split("@", 1)[1]
    return scheme + sep + rest


async def connect_redis(url: str, *, what: str, stop: asyncio.Event | None = None) -> Redis:
    """A client that answered PING; with ``stop`` given, retries (saying so) until Redis
    answers or ``stop`` is set, else raises ``ConnectionError`` with what to do."""
    from redis.asyncio import Redis
    from redis.exceptions import RedisError

    while True:
        client = Redis.from_url(url, socket_connect_timeout=5)
        try:
            await client.ping()
            return client
        except (RedisError, OSError) as exc:
            await client.aclose()
            message = f"{what}: cannot reach Redis at {redacted(url)} ({exc})"
            if stop is None:
                raise ConnectionError(f"{message}; start Redis or check PLAIT_REDIS_URL") from None
            log.warning("%s; retrying in %.0f s", message, REDIS_RETRY_S)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), REDIS_RETRY_S)
            if stop.is_set():
                raise ConnectionError(message) from None


class ChannelListener:
    """One Redis pub/sub subscription, kept alive across reconnects; each JSON message
    is handed to ``handle`` on the event loop."""

    def __init__(
        self,
        url: str,
        channel: str,
        handle: Callable[[dict[str, Any]], None],
        *,
        on_reconnect: Callable[[], None] | None = None,
    ) -> None:
        self.url = url
        self.channel = channel
        self.handle = handle
        self.on_reconnect = on_reconnect
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Returns once the subscription is live."""
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._task = asyncio.get_running_loop().create_task(self._listen(ready))
        await asyncio.wait_for(asyncio.shield(ready), timeout=10)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def _listen(self, ready: asyncio.Future[None]) -> None:
        from redis.asyncio import Redis

        while True:
            client = Redis.from_url(self.url)
            try:
                pubsub = client.pubsub()
                await pubsub.subscribe(self.channel)
                if not ready.done():
                    ready.set_result(None)
                elif self.on_reconnect is not None:
                    self.on_reconnect()  # messages may have been lost meanwhile
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    try:
                        data = json.loads(message["data"])
                    except (TypeError, ValueError):
                        log.warning("ignoring a malformed message on %s", self.channel)
                        continue
                    try:
                        self.handle(data)
                    except Exception:
                        log.exception("handling a message on %s failed", self.channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not ready.done():
                    ready.set_exception(exc)
                    return
                log.warning("%s: Redis connection lost (%s); retrying", self.channel, exc)
                await asyncio.sleep(REDIS_RETRY_S / 2)
            finally:
                with contextlib.suppress(Exception):
                    await client.aclose()


class Publisher:
    """Publishes JSON messages in order from one task: callers never wait for Redis
    (they are on the event store's commit path)."""

    def __init__(self, client: Redis) -> None:
        self.client = client
        self._outbox: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._loop())

    def publish(self, channel: str, message: dict[str, Any]) -> None:
        self._outbox.put_nowait((channel, json.dumps(message, separators=(",", ":"))))

    async def drain(self, timeout_s: float = 2.0) -> None:
        """Wait (bounded) until everything published so far has been sent."""
        deadline = time.monotonic() + timeout_s
        while not self._outbox.empty() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task

    async def _loop(self) -> None:
        while True:
            messages = [await self._outbox.get()]
            while not self._outbox.empty():
                messages.append(self._outbox.get_nowait())
            try:
                async with self.client.pipeline(transaction=False) as pipe:
                    for channel, text in messages:
                        pipe.publish(channel, text)
                    await pipe.execute()
            except Exception:
                # Waiters read the database as well; a router answers 504 at worst.
                log.exception("publishing %d message(s) to Redis failed", len(messages))


# -- the reconciler ---------------------------------------------------------------------------


class Reconciler:
    """Gives every top-level run active in the database a job, when it has none.

    Child runs are left out: their parent's executor runs them (and resumes them when it
    resumes the parent). One process of the installation does a pass per interval (a
    Redis key taken with ``SET NX PX``), whoever gets there first.
    """

    def __init__(
        self,
        platform: Platform,
        queue: Queue,
        client: Redis,
        *,
        min_age_s: float = RECONCILE_MIN_AGE_S,
    ) -> None:
        self.platform = platform
        self.queue = queue
        self.client = client
        self.interval_s = platform.settings.queue_reconcile_s
        self.min_age_s = min_age_s
        self.lock_key = f"{platform.settings.redis_prefix}runs:reconcile"
        self._task: asyncio.Task[None] | None = None
        self.passes = 0  # for tests

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("reconciling runs with the queue failed (%s); retrying", exc)

    async def run_once(self, *, force: bool = False) -> list[str]:
        """One pass; returns the runs given a job. ``force`` skips the installation-wide
        once-per-interval turn (tests)."""
        if not force:
            ttl_ms = max(int(self.interval_s * 1000 * 0.9), 1)
            if not await self.client.set(self.lock_key, "1", nx=True, px=ttl_ms):
                return []
        self.passes += 1
        held = await self.runs_in_queue()
        cutoff = now() - timedelta(seconds=self.min_age_s)
        active = await asyncio.to_thread(self._active_runs, cutoff)
        added: list[str] = []
        for run_id, seq in active:
            if run_id in held:
                continue
            await self.queue.add(
                JOB_NAME, {"run_id": run_id}, {**JOB_OPTIONS, "jobId": job_id(run_id, seq)}
            )
            added.append(run_id)
        if added:
            log.warning(
                "re-enqueued %d active run(s) that had no job in the queue (was Redis"
                " flushed or restarted?): %s",
                len(added),
                ", ".join(added[:10]),
            )
        return added

    async def runs_in_queue(self) -> set[str]:
        """The runs that have a job waiting, delayed or active — read in one MULTI, so a
        job moving between lists is seen in one of them."""
        keys = self.queue.keys
        async with self.client.pipeline(transaction=True) as pipe:
            for name in ("wait", "paused", "active"):
                pipe.lrange(keys[name], 0, -1)
            for name in ("delayed", "prioritized"):
                pipe.zrange(keys[name], 0, -1)
            results = await pipe.execute()
        return {run_of(_text(member)) for members in results for member in members}

    def _active_runs(self, cutoff: Any) -> list[tuple[str, int]]:
        """Top-level runs active in the database (older than ``cutoff``), each with the
        seq of its last durable event."""
        with self.platform.db.engine.connect() as connection:
            rows = connection.execute(
                select(Run.id, func.max(_EVENTS.c.seq))
                .select_from(Run)
                .outerjoin(_EVENTS, _EVENTS.c.run_id == Run.id)
                .where(
                    Run.status.in_(ACTIVE_STATUSES),
                    Run.parent_run_id.is_(None),
                    Run.created_at < cutoff,
                )
                .group_by(Run.id)
            ).all()
        return [(run_id, int(seq or 0)) for run_id, seq in rows]


async def _any_set(events: list[asyncio.Event], timeout_s: float) -> None:
    """Wait until one of ``events`` is set, or ``timeout_s``."""
    waits = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waits:
            task.cancel()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# -- the dispatching side ----------------------------------------------------------------------


class QueueDispatcher(RunEventWriter):
    """``RunDispatcher`` over BullMQ: this process enqueues runs, workers execute them."""

    def __init__(self, platform: Platform, hub: RunEventHub, *, plans: PlanCache | None = None):
        super().__init__(platform, hub, plans=plans)
        settings = platform.settings
        if not settings.redis_url:
            raise ValueError("the BullMQ dispatcher needs PLAIT_REDIS_URL")
        self.url = settings.redis_url
        self.process_id = uuid.uuid4().hex[:16]
        self.reply = reply_channel(settings.redis_prefix, self.process_id)
        self.control = control_channel(settings.redis_prefix)
        self.queue: Queue | None = None
        self.reconciler: Reconciler | None = None
        self._client: Redis | None = None
        self._publisher: Publisher | None = None
        self._listener: ChannelListener | None = None
        self._waiters: dict[str, set[asyncio.Event]] = defaultdict(set)
        self._acks: dict[str, asyncio.Future[bool]] = {}
        self.add_listener(self._wake)

    # -- the RunDispatcher interface -------------------------------------------------------

    async def start(self) -> None:
        from bullmq import Queue

        self._client = await connect_redis(self.url, what="the run queue")
        self._publisher = Publisher(self._client)
        self.queue = Queue(QUEUE_NAME, queue_options(self.platform))
        self._listener = ChannelListener(
            self.url, self.reply, self._on_reply, on_reconnect=self._wake_all
        )
        await self._listener.start()
        self.reconciler = Reconciler(self.platform, self.queue, self._client)
        self.reconciler.start()

    async def stop(self, grace_s: float = DEFAULT_GRACE_S) -> None:
        # Nothing executes here: what is in the queue stays there for the workers.
        self._closing = True
        if self.reconciler is not None:
            await self.reconciler.stop()
        try:
            await asyncio.wait_for(self.store.flush(), timeout=max(grace_s, 1.0))
        except Exception:
            log.exception("could not flush run events while stopping")
        self.store.close()
        if self._listener is not None:
            await self._listener.stop()
        if self._publisher is not None:
            await self._publisher.drain()
            await self._publisher.stop()
        if self.queue is not None:
            await self.queue.close()
        if self._client is not None:
            await self._client.aclose()
        for waiters in self._waiters.values():
            for event in waiters:
                event.set()

    async def dispatch(
        self, run_id: str, *, child: bool = False, spec: RunSpec | None = None
    ) -> None:
        if self._closing or self.queue is None:
            raise DispatcherClosed("the server is stopping; the run starts when it is back")
        fresh = spec is not None and not spec.resume
        seq = 0 if fresh else await asyncio.to_thread(self.store.last_seq, run_id)
        try:
            await asyncio.wait_for(
                self.queue.add(
                    JOB_NAME,
                    {"run_id": run_id, "reply": self.reply},
                    {**JOB_OPTIONS, "jobId": job_id(run_id, seq)},
                ),
                ENQUEUE_TIMEOUT_S,
            )
        except Exception as exc:  # a Redis error, or the timeout
            # The run is committed queued: accepted. The reconciler gives it its job
            # once Redis answers again.
            log.error(
                "run %s stays queued: could not enqueue it (%s: %s); the reconciler will"
                " once Redis is reachable (check PLAIT_REDIS_URL)",
                run_id,
                exc.__class__.__name__,
                exc,
            )

    async def wait(self, run_id: str, timeout_s: float | None = None) -> bool:
        loop = asyncio.get_running_loop()
        deadline = None if timeout_s is None else loop.time() + timeout_s
        woken = asyncio.Event()
        self._waiters[run_id].add(woken)
        try:
            while True:
                if await asyncio.to_thread(self._ended, run_id):
                    return True
                if self._closing:
                    return False
                pause = WAIT_POLL_S
                if deadline is not None:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        return False
                    pause = min(pause, remaining)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(woken.wait(), pause)
                woken.clear()
        finally:
            waiters = self._waiters.get(run_id)
            if waiters is not None:
                waiters.discard(woken)
                if not waiters:
                    del self._waiters[run_id]

    async def cancel(self, run_id: str) -> bool:
        status = await asyncio.to_thread(self._status, run_id)
        if status is None or status in _TERMINAL:
            return False
        error = {"kind": "cancelled", "message": "run cancelled"}
        # Queued, nobody executes it yet: end it here. If a worker starts it meanwhile,
        # one of the two writes conflicts — ours (then reach the worker), or the worker's
        # (then it lets the run go, and skips it as ended).
        if status == "queued" and await self._end_outside_engine(run_id, ev.RUN_CANCELLED, error):
            await self._tell_dispatcher(run_id)
            return True
        self._send_control({"op": "cancel", "run_id": run_id})
        if await self.wait(run_id, CANCEL_HANDOFF_S):
            return True
        # No worker holds it (its worker died and the queue has not handed it on yet):
        # end it here. The fence stops a worker that resumes it later.
        for _ in range(3):
            if await self._end_outside_engine(run_id, ev.RUN_CANCELLED, error):
                await self._tell_dispatcher(run_id)
                return True
            if await asyncio.to_thread(self._ended, run_id):
                return True
        return False

    async def signal(self, run_id: str, name: str, payload: Any = None) -> bool:
        request = uuid.uuid4().hex
        answered: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._acks[request] = answered
        message = {
            "op": "signal",
            "id": request,
            "run_id": run_id,
            "name": name,
            "payload": payload,
            "reply": self.reply,
        }
        loop = asyncio.get_running_loop()
        # The worker holding the run may itself wait SIGNAL_WAIT_S for it to start.
        deadline = loop.time() + SIGNAL_WAIT_S + 2 * SIGNAL_RETRY_S
        try:
            while (remaining := deadline - loop.time()) > 0:
                self._send_control(message)  # again: a worker may have taken it since
                with contextlib.suppress(TimeoutError):
                    return await asyncio.wait_for(
                        asyncio.shield(answered), min(SIGNAL_RETRY_S, remaining)
                    )
                if await asyncio.to_thread(self._ended, run_id):
                    return False
            return False
        finally:
            self._acks.pop(request, None)

    # -- replies ---------------------------------------------------------------------------

    def _on_reply(self, message: dict[str, Any]) -> None:
        op = message.get("op")
        if op == "events":
            events = [RunEvent.from_dict(e) for e in message.get("events") or ()]
            if not events:
                return
            for listener in self._listeners:
                try:
                    listener(events)
                except Exception:
                    log.exception("a run event listener failed")
        elif op == "ack":
            answered = self._acks.get(str(message.get("id")))
            if answered is not None and not answered.done():
                answered.set_result(bool(message.get("ok")))

    def _wake(self, events: list[RunEvent]) -> None:
        if not self._waiters:
            return
        for event in events:
            if event.type in ev.RUN_TERMINAL_EVENTS:
                for woken in self._waiters.get(event.run_id, ()):
                    woken.set()

    def _wake_all(self) -> None:
        for waiters in self._waiters.values():
            for woken in waiters:
                woken.set()

    async def _tell_dispatcher(self, run_id: str) -> None:
        """A run ended here before any worker took it: tell the process that dispatched
        it (a router waiting to answer) through the reply channel in its job."""
        from bullmq import Job

        if self.queue is None or self._publisher is None:
            return
        try:
            job = await Job.fromId(self.queue, job_id(run_id, 0))
        except Exception:
            log.warning("run %s: could not read its job", run_id, exc_info=True)
            return
        reply = (job.data or {}).get("reply") if job is not None else None
        if not reply or reply == self.reply:
            return  # ours: the listeners saw the event already
        events = await asyncio.to_thread(self.store.load_sync, run_id)
        ends = [e.to_dict() for e in events if e.type in ev.RUN_TERMINAL_EVENTS]
        if ends:
            self._publisher.publish(reply, {"op": "events", "events": ends})

    def _send_control(self, message: dict[str, Any]) -> None:
        if self._publisher is None:
            raise DispatcherClosed("the run queue is not started")
        self._publisher.publish(self.control, message)

    def _status(self, run_id: str) -> str | None:
        with self.platform.db.sessions() as session:
            return session.scalar(select(Run.status).where(Run.id == run_id))

    def _ended(self, run_id: str) -> bool:
        status = self._status(run_id)
        return status is None or status in _TERMINAL


# -- the worker side ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Held:
    """A job this worker is processing."""

    job: Job
    token: str
    reply: str | None
    handing_back: bool = False
    respond_nodes: frozenset[str] | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)


class QueueWorker:
    """Executes runs from the queue: ``plait worker``'s core.

    Args:
        platform: the platform (PostgreSQL; ``settings.queue == "bullmq"``).
        hub: live events (a started ``RedisHub``), so API sockets see the runs.
        concurrency: top-level runs executed at once (child runs come on top, in
            their parent's account).
        name: shown in logs and in each claim event.
    """

    def __init__(
        self,
        platform: Platform,
        hub: RunEventHub,
        *,
        concurrency: int | None = None,
        name: str | None = None,
    ) -> None:
        settings = platform.settings
        if not settings.redis_url:
            raise ValueError("plait worker needs PLAIT_REDIS_URL")
        self.platform = platform
        self.url = settings.redis_url
        self.concurrency = concurrency or settings.run_workers
        self.name = name or f"worker-{uuid.uuid4().hex[:8]}"
        self.local = LocalRunDispatcher(
            platform,
            hub,
            workers=self.concurrency,
            resume_left_behind=False,
            claim=True,
            name=self.name,
        )
        self.local.add_listener(self._forward)
        self.worker: Worker | None = None
        self.queue: Queue | None = None
        self.reconciler: Reconciler | None = None
        self._client: Redis | None = None
        self._publisher: Publisher | None = None
        self._listener: ChannelListener | None = None
        self._held: dict[str, _Held] = {}
        self._signals: OrderedDict[str, None] = OrderedDict()
        self._background: set[asyncio.Task[Any]] = set()
        self._stopping = False
        self.stop_requested = asyncio.Event()
        # Set by a second SIGTERM: the grace period ends now.
        self.hurry = asyncio.Event()

    async def connect(self) -> None:
        """Connect to Redis, waiting for it (and saying so) until ``stop_requested``;
        ``ConnectionError`` when stopped before Redis answered."""
        if self._client is None:
            self._client = await connect_redis(
                self.url, what=f"plait worker {self.name}", stop=self.stop_requested
            )

    async def start(self) -> None:
        """Connect, then fetch runs from the queue."""
        from bullmq import Queue, Worker

        settings = self.platform.settings
        await self.connect()
        assert self._client is not None
        self._publisher = Publisher(self._client)
        await self.local.start()
        self._listener = ChannelListener(
            self.url, control_channel(settings.redis_prefix), self._on_control
        )
        await self._listener.start()
        self.queue = Queue(QUEUE_NAME, queue_options(self.platform))
        self.worker = Worker(
            QUEUE_NAME,
            self._process,
            {
                **queue_options(self.platform),
                "name": self.name,
                "concurrency": self.concurrency,
                "lockDuration": int(settings.queue_lock_s * 1000),
                "stalledInterval": int(settings.queue_stalled_interval_s * 1000),
                "maxStalledCount": MAX_STALLED_COUNT,
                # The blocking wait for a job, in seconds: short, so a stop is prompt.
                "drainDelay": 1,
                **JOB_OPTIONS,
            },
        )
        self.worker.on("error", self._on_error)
        self.reconciler = Reconciler(self.platform, self.queue, self._client)
        self.reconciler.start()

    async def stop(self, grace_s: float = DEFAULT_GRACE_S) -> None:
        """Graceful stop: fetch nothing more; runs at work get ``grace_s`` to end; the
        others are flushed and handed back to the queue, at once, for another worker."""
        self._stopping = True
        if self.reconciler is not None:
            await self.reconciler.stop()
        if self.worker is not None:
            await self.worker.pause(do_not_wait_active=True)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_s
        while (
            (busy := self._busy())
            and (remaining := deadline - loop.time()) > 0
            and not self.hurry.is_set()
        ):
            await _any_set([h.done for h in busy], min(remaining, 0.05))
        await self._hand_back_all()
        if self.worker is not None:
            await self.worker.close()
        await self.local.stop(0)
        for task in list(self._background):
            task.cancel()
        if self._listener is not None:
            await self._listener.stop()
        if self._publisher is not None:
            await self._publisher.drain()
            await self._publisher.stop()
        if self.queue is not None:
            await self.queue.close()
        if self._client is not None:
            await self._client.aclose()

    def _busy(self) -> list[_Held]:
        jobs = self.local._jobs
        return [
            held
            for run_id, held in self._held.items()
            if not held.done.is_set()
            and (job := jobs.get(run_id)) is not None
            and self.local._busy(job)
        ]

    async def _hand_back_all(self) -> None:
        left = [held for held in self._held.values() if not held.done.is_set()]
        if not left:
            return
        try:
            await asyncio.wait_for(self.local.store.flush(), timeout=10)
        except Exception:
            log.exception("could not flush run events before handing runs back")
        # From here on nothing of these runs (and their children) is written by us: the
        # worker that takes them over resumes from what is durable now.
        for run_id in list(self.local._jobs):
            self.local.store.release(run_id)
        # And no run is ended here on the way out: a parent node cancelled below would
        # otherwise cancel the child run it waits for.
        self.local._closing = True
        for held in left:
            held.handing_back = True
        for job in list(self.local._jobs.values()):
            if job.live:
                self.local.executor.cancel(job.run_id)
            if job.task is not None:
                job.task.cancel()
        # Each processor hands its job back as its run's task ends.
        deadline = time.monotonic() + 10
        while (waiting := [h for h in left if not h.done.is_set()]) and time.monotonic() < deadline:
            await _any_set([h.done for h in waiting], 0.1)
        log.info("handed %d run(s) back to the queue", len(left))

    # -- processing ------------------------------------------------------------------------

    async def _process(self, job: Job, token: str) -> None:
        data = job.data or {}
        run_id = str(data["run_id"])
        held = _Held(job, token, data.get("reply"))
        if self._stopping:
            await self._hand_back(held)
            return None
        if run_id in self._held:
            # A second delivery of a run in hand: the first one goes on with it.
            log.info("run %s: job %s is a duplicate of one in hand; skipped", run_id, job.id)
            return None
        self._held[run_id] = held
        log.info("run %s: job %s taken", run_id, job.id)
        try:
            try:
                await self.local.dispatch(run_id)
            except DispatcherClosed:
                held.handing_back = True
            await self.local.wait(run_id)
            if run_id in self.local.outages:
                # The database could not be reached: the same job goes back to the queue
                # (no database needed for that), to be tried again in a moment.
                self.local.outages.discard(run_id)
                await self._return_to_queue(held, delay_s=OUTAGE_RETRY_S)
            if held.handing_back:
                await self._hand_back(held)
        finally:
            held.done.set()
            self._held.pop(run_id, None)
        return None

    async def _hand_back(self, held: _Held) -> None:
        """Give the run to another worker: a new delivery from its durable events, or,
        when it made no progress here, the same job back to the queue (moveToDelayed
        with no delay, atomic) — either way the job in hand ends without a result."""
        job = held.job
        run_id = run_of(str(job.id))
        seq = await asyncio.to_thread(self.local.store.last_seq, run_id)
        new_id = job_id(run_id, seq)
        if new_id != job.id and self.queue is not None:
            data = {"run_id": run_id, "reply": held.reply}
            await self.queue.add(JOB_NAME, data, {**JOB_OPTIONS, "jobId": new_id})
            log.info("run %s: handed back to the queue as %s", run_id, new_id)
            return
        await self._return_to_queue(held)

    async def _return_to_queue(self, held: _Held, *, delay_s: float = 0.0) -> None:
        """Put the job in hand back in the queue, as it is, after ``delay_s``; raises
        ``DelayedError`` (how BullMQ learns the job is not done)."""
        from bullmq.custom_errors import DelayedError

        job = held.job
        await job.moveToDelayed(int((time.time() + delay_s) * 1000), held.token)
        log.info("run %s: job %s returned to the queue", run_of(str(job.id)), job.id)
        raise DelayedError()

    def _on_error(self, error: Any, *args: Any) -> None:
        log.warning("queue: %s", error)

    # -- control: cancels and signals ------------------------------------------------------

    def _on_control(self, message: dict[str, Any]) -> None:
        run_id = str(message.get("run_id"))
        if run_id not in self.local._jobs:
            return  # not ours (every worker hears every message)
        op = message.get("op")
        if op == "cancel":
            self._spawn(self.local.cancel(run_id))
        elif op == "signal":
            request = str(message.get("id"))
            if request in self._signals:
                return  # a repeat of one being delivered
            self._signals[request] = None
            while len(self._signals) > 1000:
                self._signals.popitem(last=False)
            self._spawn(self._deliver_signal(run_id, message))

    async def _deliver_signal(self, run_id: str, message: dict[str, Any]) -> None:
        ok = await self.local.signal(run_id, str(message.get("name")), message.get("payload"))
        reply = message.get("reply")
        if reply and self._publisher is not None:
            self._publisher.publish(str(reply), {"op": "ack", "id": message.get("id"), "ok": ok})

    def _spawn(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- replies ---------------------------------------------------------------------------

    def _forward(self, events: list[RunEvent]) -> None:
        """Durable events the dispatching process waits for — respond nodes' successes
        and run ends — to its reply channel (called after their commit)."""
        if self._publisher is None:
            return
        out: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
        for event in events:
            held = self._held.get(event.run_id)
            if held is None or not held.reply:
                continue
            if event.type in ev.RUN_TERMINAL_EVENTS or (
                event.type == ev.NODE_SUCCEEDED and event.node_id in self._respond_nodes(held)
            ):
                out[held.reply].append(event.to_dict())
        for reply, batch in out.items():
            self._publisher.publish(reply, {"op": "events", "events": batch})

    def _respond_nodes(self, held: _Held) -> frozenset[str]:
        if held.respond_nodes is None:
            owner = self.local._owners.get(run_of(str(held.job.id)))
            if owner is None or owner.plan is None:
                return frozenset()
            held.respond_nodes = frozenset(
                node_id
                for node_id, node in owner.plan.nodes.items()
                if node.plan.type == RESPOND_TYPE
            )
        return held.respond_nodes


def run_worker(platform: Platform, *, concurrency: int | None, out: Any) -> int:
    """``plait worker``: execute runs from the queue until SIGTERM or Ctrl-C (graceful:
    a second signal skips the grace period); return the exit code."""
    import signal

    from .hub import RedisHub

    settings = platform.settings
    assert settings.redis_url is not None

    async def main() -> int:
        hub = RedisHub(settings.redis_url or "", prefix=settings.redis_prefix)
        worker = QueueWorker(platform, hub, concurrency=concurrency)
        loop = asyncio.get_running_loop()
        signals = 0

        def on_signal() -> None:
            nonlocal signals
            signals += 1
            worker.stop_requested.set()
            if signals > 1:
                worker.hurry.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal)
        try:
            await worker.connect()
            await hub.start()
            await worker.start()
        except ConnectionError as exc:
            log.error("%s", exc)
            return 1 if not worker.stop_requested.is_set() else 0
        out.write(
            f"plait worker {worker.name} ready: {worker.concurrency} run(s) at once from"
            f" {redacted(settings.redis_url or '')} ({bull_prefix(settings.redis_prefix)}:"
            f"{QUEUE_NAME}); lock {settings.queue_lock_s:g} s, stalled check every"
            f" {settings.queue_stalled_interval_s:g} s\n"
        )
        out.flush()
        await worker.stop_requested.wait()
        log.info("stopping: runs at work get %.0f s to end", DEFAULT_GRACE_S)
        await worker.stop(DEFAULT_GRACE_S)
        await hub.stop()
        return 0

    try:
        return asyncio.run(main())
    finally:
        platform.db.dispose()
