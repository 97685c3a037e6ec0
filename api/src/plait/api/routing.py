"""The router's platform side: route tables from publications, and runs from requests.

The router (``plait.router``) is a data plane that knows nothing of the database. This
module implements the two protocols it is built with (ARCHITECTURE.md §1, §6):

* ``PlatformRouteSource`` — ``table(project, stage)``: the stage's ``RouteTable``, built
  from ``services.publish.active_routes`` and cached in the process. Everything a request
  needs is prepared here, once per publish, not per request: the flow's execution plan,
  the route's settings validated by the trigger's own Params model, auth secrets opened
  from the project's secrets, the ``http.respond`` nodes to watch.
* ``PlatformRunStarter`` — ``start(route, payload, …)``: records a ``Run`` (trigger
  ``webhook``, the route's node, the stage, the published version; the request as its
  input), hands it to the platform's dispatcher, and for a sync route waits for the
  first ``http.respond`` node to succeed, for the run's end, or for the route's timeout.

``RouteEvents`` (``platform.route_events``) invalidates cached tables after a publish:
in the process, and over Redis pub/sub when ``PLAIT_REDIS_URL`` is set, so every router
process of the installation drops the stage's table. A table is also rebuilt in the
background once it is ``TABLE_MAX_AGE_S`` old, so a lost message (a Redis reconnect)
or an installation of several processes without Redis is stale for a bounded time only.

Key contracts:

- An answer leaves only once the events it depends on are durable: the respond node's
  ``node.succeeded`` is observed in the event store's ``on_durable`` callback, after the
  commit that made it so (ARCHITECTURE.md §5).
- A run started by a request is recorded whatever happens to the request: a timeout
  answers 504 and the run goes on; a client that goes away does not cancel it.
- A table built from data read before an invalidation is never cached after it
  (per-key generations), so a publish is never hidden by a build that raced it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select

from plait.node_runner import events as ev
from plait.node_runner.blobs import resolve
from plait.node_runner.errors import PlaitError
from plait.node_runner.events import RunEvent
from plait.node_runner.execution_plan import ExecutionPlan
from plait.router.routes import (
    AuthConfig,
    CorsConfig,
    RateLimit,
    Route,
    RouteConfig,
    RouteConflict,
    RouteTable,
)

from .db.models import Base, FlowVersion, Secret, new_id, now
from .runs.dispatcher import RunSpec
from .runs.secrets import ProjectSecrets
from .services.publish import ActiveRoute, active_routes

if TYPE_CHECKING:
    from redis import Redis as SyncRedis

    from plait.router.app import ASGIApp, RunOutcome

    from .platform import Platform
    from .runs.plans import PlanCache

log = logging.getLogger(__name__)

_RUNS = Base.metadata.tables["runs"]

# Route tables kept per process (least recently used dropped first): stages that exist,
# and the misses of those that do not, so a flood of unknown hosts costs one query each
# at most once per entry, and memory stays bounded.
TABLE_CACHE_SIZE = 4096
# A table this old is rebuilt in the background while it keeps serving (see the docstring).
TABLE_MAX_AGE_S = 30.0
# The Redis channel (under ``settings.redis_prefix``) that carries invalidations.
ROUTES_CHANNEL = "routes:invalidate"
REDIS_RETRY_S = 1.0

RESPOND_TYPE = "http.respond"
_RUN_TERMINAL = {
    ev.RUN_SUCCEEDED: "succeeded",
    ev.RUN_FAILED: "failed",
    ev.RUN_TIMED_OUT: "timed_out",
    ev.RUN_CANCELLED: "cancelled",
}


# -- route targets ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RouteTarget:
    """What a request on a route starts: one published version's webhook node.

    Built with the table, so starting a run reads nothing but this.
    """

    workspace_id: str
    project_id: str
    project_slug: str
    stage: str
    flow_id: str
    flow_name: str
    version: int
    version_id: str
    bundle_id: str
    node_id: str
    plan: ExecutionPlan
    # The nodes whose first success answers a sync request.
    respond_nodes: frozenset[str]
    # The project's secrets as stored (sealed): each run opens what it uses.
    sealed_secrets: Mapping[str, bytes]


def route_config(params: Any, secrets: ProjectSecrets | None, where: str) -> RouteConfig:
    """The router's ``RouteConfig`` of a ``trigger.webhook`` node's validated params.

    Secrets are named in the flow and opened here, from the project's secrets; a secret
    that is missing (or does not open) leaves the route refusing every request rather
    than open, and says so in the log.
    """
    auth = None
    spec = getattr(params, "auth", None)
    kind = getattr(spec, "kind", "none")
    if kind in ("api_key", "hmac"):
        value = secrets.get(spec.secret) if secrets is not None else None
        if value is None:
            log.warning(
                "%s: secret %r is not set in the project; refusing every request",
                where,
                spec.secret,
            )
        if kind == "api_key":
            auth = AuthConfig("api_key", header=spec.header, keys=(value,) if value else ())
        else:
            auth = AuthConfig(
                "hmac",
                header=spec.header,
                secret=value or "",
                timestamp_header=spec.timestamp_header,
                tolerance_s=float(spec.tolerance_s),
            )
    cors = None
    cors_spec = getattr(params, "cors", None)
    if cors_spec is not None:
        cors = CorsConfig(
            allow_origins=tuple(cors_spec.allow_origins),
            allow_methods=tuple(cors_spec.allow_methods or ()),
            allow_headers=tuple(cors_spec.allow_headers),
            allow_credentials=cors_spec.allow_credentials,
            max_age_s=cors_spec.max_age_s,
        )
    limit = getattr(params, "rate_limit", None)
    rate_limit = RateLimit(limit.requests, float(limit.per_s)) if limit is not None else None
    return RouteConfig(
        mode=getattr(params, "mode", "sync"),
        timeout_s=float(getattr(params, "timeout_s", 30.0)),
        auth=auth,
        cors=cors,
        rate_limit=rate_limit,
    )


# -- the cache ------------------------------------------------------------------------------


@dataclass(slots=True)
class _Entry:
    table: RouteTable | None
    built_at: float


class RouteCache:
    """Route tables by (project slug, stage), with a generation per key.

    Thread-safe: ``invalidate`` is called from API request threads and from the Redis
    listener, ``get``/``put`` from the event loop.
    """

    def __init__(self, size: int = TABLE_CACHE_SIZE) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        self._generations: dict[tuple[str, str], int] = {}
        self._epoch = 0  # bumped by clear(): every key's generation changes at once
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> _Entry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def generation(self, key: tuple[str, str]) -> tuple[int, int]:
        with self._lock:
            return self._epoch, self._generations.get(key, 0)

    def put(
        self, key: tuple[str, str], table: RouteTable | None, generation: tuple[int, int]
    ) -> bool:
        """Keep a table built when the key was at ``generation``; False (not kept) when
        it was invalidated since."""
        with self._lock:
            if (self._epoch, self._generations.get(key, 0)) != generation:
                return False
            self._entries[key] = _Entry(table, time.monotonic())
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                old, _ = self._entries.popitem(last=False)
                self._generations.pop(old, None)
            return True

    def invalidate(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._entries.pop(key, None)
            self._generations[key] = self._generations.get(key, 0) + 1

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._generations.clear()
            self._epoch += 1

    def __len__(self) -> int:
        return len(self._entries)


# -- invalidation -----------------------------------------------------------------------------


class RouteEvents:
    """``platform.route_events``: drop a stage's cached table everywhere after a publish.

    ``invalidate`` may be called from any thread (the publish routes are sync). In the
    process it drops the key from every attached cache at once; with Redis it also
    publishes ``{"project", "stage"}`` on ``{prefix}routes:invalidate``, which every
    started ``RouteEvents`` of the installation (this one included) applies on receipt.
    """

    def __init__(self, redis_url: str | None = None, *, prefix: str = "plait:") -> None:
        self.redis_url = redis_url
        self.channel = f"{prefix}{ROUTES_CHANNEL}"
        self._caches: list[RouteCache] = []
        self._publisher: SyncRedis | None = None
        self._publisher_lock = threading.Lock()
        self._listener: asyncio.Task[None] | None = None
        self.received = 0  # invalidations applied from Redis, for tests

    def attach(self, cache: RouteCache) -> None:
        """Let this cache be invalidated (each router app in the process has one)."""
        self._caches.append(cache)

    def detach(self, cache: RouteCache) -> None:
        with contextlib.suppress(ValueError):
            self._caches.remove(cache)

    def invalidate(self, project: str, stage: str) -> None:
        """Drop the table of ``project``'s ``stage`` here and, with Redis, everywhere."""
        self._apply(project, stage)
        if self.redis_url:
            message = json.dumps({"project": project, "stage": stage})
            try:
                self._redis().publish(self.channel, message)
            except Exception:
                # The publish is committed; other processes catch up within
                # TABLE_MAX_AGE_S. Say so rather than fail the request.
                log.exception("could not publish the route invalidation of %s-%s", project, stage)

    def _apply(self, project: str, stage: str) -> None:
        for cache in list(self._caches):
            cache.invalidate((project, stage))

    def _clear(self) -> None:
        for cache in list(self._caches):
            cache.clear()

    def _redis(self) -> SyncRedis:
        # A synchronous client: invalidate() runs in request threads, with no loop at hand.
        with self._publisher_lock:
            if self._publisher is None:
                from redis import Redis

                assert self.redis_url is not None
                self._publisher = Redis.from_url(self.redis_url, socket_timeout=5)
            return self._publisher

    async def start(self) -> None:
        """Listen for other processes' invalidations (with Redis); returns once the
        subscription is live, so a publish made after start() is never missed."""
        if not self.redis_url or self._listener is not None:
            return
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._listener = asyncio.get_running_loop().create_task(self._listen(ready))
        await asyncio.wait_for(asyncio.shield(ready), timeout=10)

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
            self._listener = None
        with self._publisher_lock:
            if self._publisher is not None:
                self._publisher.close()
                self._publisher = None

    async def _listen(self, ready: asyncio.Future[None]) -> None:
        from redis.asyncio import Redis

        assert self.redis_url is not None
        while True:
            client = Redis.from_url(self.redis_url)
            try:
                pubsub = client.pubsub()
                await pubsub.subscribe(self.channel)
                # Whatever was published while we were not subscribed is lost: start
                # from nothing (a reconnect), so no table outlives a missed publish.
                self._clear()
                if not ready.done():
                    ready.set_result(None)
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    try:
                        data = json.loads(message["data"])
                        self._apply(str(data["project"]), str(data["stage"]))
                        self.received += 1
                    except (ValueError, KeyError, TypeError):
                        log.warning("ignored a malformed route invalidation: %r", message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not ready.done():
                    ready.set_exception(exc)
                    return
                log.warning("route invalidations: Redis connection lost (%s); retrying", exc)
                await asyncio.sleep(REDIS_RETRY_S)
            finally:
                with contextlib.suppress(Exception):
                    await client.aclose()


# -- the route source --------------------------------------------------------------------------


class PlatformRouteSource:
    """``RouteSource`` over the database: tables built from publications, cached.

    A cache hit is a dictionary look-up on the event loop; a miss builds the table in a
    worker thread, once for all the requests that wait for it.
    """

    def __init__(
        self,
        platform: Platform,
        plans: Callable[[], PlanCache],
        *,
        cache: RouteCache | None = None,
        max_age_s: float = TABLE_MAX_AGE_S,
    ) -> None:
        self.platform = platform
        self._plans = plans
        self.cache = cache or RouteCache()
        self.max_age_s = max_age_s
        self._building: dict[tuple[str, str], asyncio.Future[RouteTable | None]] = {}
        self.builds = 0  # tables built, for tests and the benchmark

    async def table(self, project: str, stage: str) -> RouteTable | None:
        key = (project, stage)
        entry = self.cache.get(key)
        if entry is not None:
            if time.monotonic() - entry.built_at > self.max_age_s and key not in self._building:
                self._build_shared(key)  # refresh in the background; serve this one
            return entry.table
        return await asyncio.shield(self._build_shared(key))

    def _build_shared(self, key: tuple[str, str]) -> asyncio.Future[RouteTable | None]:
        future = self._building.get(key)
        if future is None:
            future = asyncio.ensure_future(self._build_and_keep(key))
            self._building[key] = future
            future.add_done_callback(lambda _: self._building.pop(key, None))
        return future

    async def _build_and_keep(self, key: tuple[str, str]) -> RouteTable | None:
        generation = self.cache.generation(key)
        table = await asyncio.to_thread(self.build, *key)
        self.builds += 1
        self.cache.put(key, table, generation)
        return table

    def build(self, project: str, stage: str) -> RouteTable | None:
        """The table of a project stage from the database (None when nothing is
        published there). Blocking: called in a worker thread."""
        platform = self.platform
        plans = self._plans()
        with platform.db.sessions() as session:
            actives = active_routes(session, project, stage)
            if not actives:
                return None
            documents = dict(
                session.execute(
                    select(FlowVersion.id, FlowVersion.document).where(
                        FlowVersion.id.in_({a.version_id for a in actives})
                    )
                ).all()
            )
            sealed: dict[tuple[str, str], dict[str, bytes]] = {}
            for active in actives:
                owner = (active.workspace_id, active.project_id)
                if owner not in sealed:
                    rows = session.execute(
                        select(Secret.name, Secret.ciphertext).where(
                            Secret.workspace_id == owner[0], Secret.project_id == owner[1]
                        )
                    )
                    sealed[owner] = {name: ciphertext for name, ciphertext in rows}
        table = RouteTable()
        for active in actives:
            route = self._route(active, documents.get(active.version_id), plans, sealed)
            if route is None:
                continue
            try:
                table.add(route)
            except RouteConflict as exc:  # publishing refuses these; never fail the stage
                log.error("%s-%s: %s; serving the first", project, stage, exc)
        return table

    def _route(
        self,
        active: ActiveRoute,
        document: dict[str, Any] | None,
        plans: PlanCache,
        sealed: dict[tuple[str, str], dict[str, bytes]],
    ) -> Route | None:
        where = (
            f"{active.project_slug}-{active.stage}: {active.method} {active.path}"
            f" (flow {active.flow_name!r} v{active.version}, node {active.node_id!r})"
        )
        if document is None:
            log.error("%s: the published version is gone; not served", where)
            return None
        try:
            plan = plans.plan_for(document)
            prepared = plan.nodes[active.node_id]
            params = prepared.cls.Params.model_validate(active.params)
            secrets = sealed.get((active.workspace_id, active.project_id), {})
            opened = ProjectSecrets(
                self.platform.secret_box, active.workspace_id, active.project_id, secrets
            )
            config = route_config(params, opened, where)
            respond = frozenset(
                node_id for node_id, node in plan.nodes.items() if node.plan.type == RESPOND_TYPE
            )
            target = RouteTarget(
                workspace_id=active.workspace_id,
                project_id=active.project_id,
                project_slug=active.project_slug,
                stage=active.stage,
                flow_id=active.flow_id,
                flow_name=active.flow_name,
                version=active.version,
                version_id=active.version_id,
                bundle_id=active.bundle_id,
                node_id=active.node_id,
                plan=plan,
                respond_nodes=respond,
                sealed_secrets=secrets,
            )
            return Route(active.method, active.path, config, target)
        except (PlaitError, KeyError, ValueError) as exc:
            # The version no longer compiles here (a node package was removed), or its
            # params no longer validate: serving it would fail every request anyway.
            log.error("%s: cannot be served: %s", where, exc)
            return None


# -- the run starter ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Waiter:
    """A sync request waiting on its run."""

    respond_nodes: frozenset[str]
    future: asyncio.Future[tuple[str, Any, Any]]


@dataclass(slots=True)
class _PendingRow:
    row: dict[str, Any]
    future: asyncio.Future[None]


@dataclass
class RunRecorder:
    """Inserts the runs rows of requests with group commit: the rows of every request
    that arrives while a write is in flight go in the next write, one transaction."""

    platform: Platform
    _pending: list[_PendingRow] = field(default_factory=list)
    _writer: asyncio.Task[None] | None = None
    batches: int = 0

    async def record(self, row: dict[str, Any]) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append(_PendingRow(row, future))
        if self._writer is None:
            self._writer = asyncio.ensure_future(self._write())
        await future

    async def _write(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    await asyncio.to_thread(self._insert, [p.row for p in batch])
                except BaseException as exc:
                    for pending in batch:
                        if not pending.future.done():
                            pending.future.set_exception(
                                exc if isinstance(exc, Exception) else RuntimeError(str(exc))
                            )
                    if not isinstance(exc, Exception):
                        raise
                    continue
                self.batches += 1
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_result(None)
        finally:
            self._writer = None

    def _insert(self, rows: list[dict[str, Any]]) -> None:
        with self.platform.db.engine.begin() as connection:
            connection.execute(insert(_RUNS), rows)


class PlatformRunStarter:
    """``RunStarter`` on the platform's dispatcher.

    Listens to the dispatcher's durable events for the runs it waits on: the first
    ``node.succeeded`` of an ``http.respond`` node answers, a terminal run event ends
    the wait without an answer. With the local dispatcher they come from this process's
    event store; with BullMQ (``PLAIT_QUEUE=bullmq``) the run executes on a worker, which
    publishes them, once durable, on this process's reply channel named in the job — so
    the answer reaches the process that holds the request (docs/scale.md).
    """

    def __init__(self, platform: Platform, *, status_base_url: str | None = None) -> None:
        self.platform = platform
        self.status_base_url = (status_base_url or platform.settings.base_url).rstrip("/")
        self.recorder = RunRecorder(platform)
        self._waiters: dict[str, _Waiter] = {}
        self._watched: Any = None

    def _dispatcher(self) -> Any:
        dispatcher = self.platform.dispatcher
        if dispatcher is None:
            raise RuntimeError("the run dispatcher is not started")
        if dispatcher is not self._watched:
            # Durable events of the runs this process dispatched: from its own event
            # store (local dispatcher), or from the workers over this process's reply
            # channel (BullMQ dispatcher).
            dispatcher.add_listener(self._on_durable)
            self._watched = dispatcher
        return dispatcher

    def _on_durable(self, events: list[RunEvent]) -> None:
        if self._waiters:
            self._observe(events)

    def _observe(self, events: Iterable[RunEvent]) -> None:
        waiters = self._waiters
        for event in events:
            waiter = waiters.get(event.run_id)
            if waiter is None or waiter.future.done():
                continue
            etype = event.type
            if etype == ev.NODE_SUCCEEDED and event.node_id in waiter.respond_nodes:
                outputs = event.data.get("outputs") or {}
                waiter.future.set_result(("responded", outputs.get("response"), None))
            elif etype in _RUN_TERMINAL:
                waiter.future.set_result((_RUN_TERMINAL[etype], None, event.data.get("error")))

    async def _dispatch(
        self, dispatcher: Any, run_id: str, target: RouteTarget, payload: Any
    ) -> None:
        """Hand the run to the dispatcher with its spec, made from the route's target:
        the run needs nothing read back from the database to start."""
        spec = RunSpec(
            run_id=run_id,
            workspace_id=target.workspace_id,
            project_id=target.project_id,
            flow_id=target.flow_id,
            input=payload,
            trigger_node=target.node_id,
            seeds=None,
            resume=False,
            plan=target.plan,
            secrets=ProjectSecrets(
                self.platform.secret_box,
                target.workspace_id,
                target.project_id,
                target.sealed_secrets,
            ),
        )
        await dispatcher.dispatch(run_id, spec=spec)

    def status_url(self, run_id: str) -> str:
        return f"{self.status_base_url}/api/runs/{run_id}"

    async def start(
        self,
        route: Route,
        payload: dict[str, Any],
        *,
        project: str,
        stage: str,
        wait: bool,
        timeout_s: float,
    ) -> RunOutcome:
        from plait.router.app import RunOutcome

        target: RouteTarget = route.target
        dispatcher = self._dispatcher()
        run_id = new_id()
        await self.recorder.record(
            {
                "id": run_id,
                "workspace_id": target.workspace_id,
                "flow_id": target.flow_id,
                "version_id": target.version_id,
                "stage": target.stage,
                "trigger": "webhook",
                "trigger_node": target.node_id,
                "status": "queued",
                "bundle_id": target.bundle_id,
                "document": None,
                "input": payload,
                "seeds": None,
                "created_at": now(),
            }
        )
        status_url = self.status_url(run_id)
        if not wait:
            await self._dispatch(dispatcher, run_id, target, payload)
            return RunOutcome(run_id, "accepted", status_url=status_url)
        future: asyncio.Future[tuple[str, Any, Any]] = asyncio.get_running_loop().create_future()
        # Registered before the dispatch, so no event of the run can pass unseen.
        self._waiters[run_id] = _Waiter(target.respond_nodes, future)
        try:
            await self._dispatch(dispatcher, run_id, target, payload)
            try:
                status, response, error = await asyncio.wait_for(future, timeout_s)
            except TimeoutError:
                return RunOutcome(run_id, "timeout", status_url=status_url)
        finally:
            self._waiters.pop(run_id, None)
        if response is not None:
            # A large answer is kept as a blob reference in the events; send its value.
            response = resolve(response, self.platform.blobs)
        return RunOutcome(run_id, status, response, error, status_url)


# -- the app ------------------------------------------------------------------------------------


def route_events(platform: Platform) -> RouteEvents:
    """The platform's ``RouteEvents``, made on first use from the settings."""
    events: RouteEvents | None = getattr(platform, "route_events", None)
    if events is None:
        settings = platform.settings
        events = RouteEvents(settings.redis_url, prefix=settings.redis_prefix)
        platform.route_events = events  # type: ignore[attr-defined]
    return events


def create_platform_router(platform: Platform, *, lifespan: bool) -> ASGIApp:
    """The router app on the platform: its route source, run starter and invalidation.

    Args:
        platform: the process's platform; its dispatcher runs the runs.
        lifespan: True when the router is the process's only app (``plait router``):
            its lifespan starts and stops the platform's runtime (dispatcher, live
            events, route invalidations). False beside the API (``plait serve``), whose
            lifespan does that.
    """
    from plait.router.app import create_router_app

    def plans() -> PlanCache:
        dispatcher = platform.dispatcher
        if dispatcher is None:
            raise RuntimeError("the run dispatcher is not started")
        cache: PlanCache = dispatcher.plans
        return cache

    source = PlatformRouteSource(platform, plans)
    route_events(platform).attach(source.cache)
    starter = PlatformRunStarter(platform)
    app = create_router_app(
        source,
        starter,
        base_domain=platform.settings.base_domain,
        max_body_bytes=platform.settings.max_body_bytes,
    )
    if not lifespan:
        return app
    return _WithRuntime(app, platform)


class _WithRuntime:
    """An ASGI app whose lifespan starts the platform's runtime before the first request
    and stops it (gracefully) after the last."""

    def __init__(self, app: ASGIApp, platform: Platform) -> None:
        self.app = app
        self.platform = platform

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        from . import runtime

        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await runtime.start(self.platform)
                except Exception as exc:
                    log.exception("the router could not start")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await runtime.stop(self.platform)
                await send({"type": "lifespan.shutdown.complete"})
                return
