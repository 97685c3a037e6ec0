"""Live run events: publish committed events, subscribe to a run's or a flow's.

Two hubs behind one interface (ARCHITECTURE.md §2): ``LocalHub`` broadcasts inside the
process (the embedded default), ``RedisHub`` over Redis pub/sub (``PLAIT_REDIS_URL``),
so a socket on one API process sees runs executed by another.

Only *durable* events are published (the event store calls back after its commit). A
subscriber that subscribes first and then reads the backlog from the database therefore
misses nothing: an event committed before the backlog read is in the backlog, one
committed after it is published after the subscription. Duplicates between the two are
dropped by ``seq``. Messages lost by the transport (a full queue, a Redis reconnect)
show up as a ``seq`` gap, which the socket fills from the database.

Channels are named per workspace, so a subscription can only ever be to channels of the
caller's own workspace: ``ws:{workspace_id}:run:{run_id}`` and
``ws:{workspace_id}:flow:{flow_id}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

log = logging.getLogger(__name__)

# Events a subscriber may fall behind by before messages are dropped (and refilled
# from the database by the socket, which sees the seq gap).
QUEUE_SIZE = 10_000
SUBSCRIBE_TIMEOUT_S = 10.0
DEFAULT_REDIS_PREFIX = "plait:"


def run_channel(workspace_id: str, run_id: str) -> str:
    return f"ws:{workspace_id}:run:{run_id}"


def flow_channel(workspace_id: str, flow_id: str) -> str:
    return f"ws:{workspace_id}:flow:{flow_id}"


class Subscription:
    """Events of one channel, in the order they were published (``RunEvent.to_dict()``)."""

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)
        self.dropped = 0

    def put(self, event: dict[str, Any]) -> None:
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1

    async def get(self) -> dict[str, Any]:
        return await self._queue.get()

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[dict[str, Any]]:
        while True:
            yield await self._queue.get()


class RunEventHub(Protocol):
    """Where committed run events go, and where sockets listen for them."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def publish(self, workspace_id: str, flow_id: str, events: list[dict[str, Any]]) -> None:
        """Publish a committed batch of events of runs of one flow; never blocks."""

    def subscribe(self, channel: str) -> AbstractAsyncContextManager[Subscription]:
        """Subscribe to a channel; the subscription is live when the context is entered."""
        ...


def _by_channel(
    workspace_id: str, flow_id: str, events: Iterable[dict[str, Any]]
) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    flow = flow_channel(workspace_id, flow_id)
    for event in events:
        out[run_channel(workspace_id, event["run_id"])].append(event)
        out[flow].append(event)
    return out


class _Fanout:
    """Local subscribers by channel."""

    def __init__(self) -> None:
        self.subscribers: dict[str, set[Subscription]] = {}

    def deliver(self, channel: str, events: Iterable[dict[str, Any]]) -> None:
        for subscription in self.subscribers.get(channel, ()):
            for event in events:
                subscription.put(event)

    def add(self, subscription: Subscription) -> bool:
        """Add a subscriber; True when it is the channel's first."""
        group = self.subscribers.setdefault(subscription.channel, set())
        group.add(subscription)
        return len(group) == 1

    def discard(self, subscription: Subscription) -> bool:
        """Remove a subscriber; True when that left its channel without any."""
        group = self.subscribers.get(subscription.channel)
        if group is None:
            return False
        group.discard(subscription)
        if group:
            return False
        del self.subscribers[subscription.channel]
        return True


class LocalHub:
    """In-process broadcast: publishing is a few dictionary look-ups."""

    def __init__(self) -> None:
        self._fanout = _Fanout()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def publish(self, workspace_id: str, flow_id: str, events: list[dict[str, Any]]) -> None:
        if not self._fanout.subscribers:
            return  # the common case on a busy server with no editor open
        for channel, batch in _by_channel(workspace_id, flow_id, events).items():
            self._fanout.deliver(channel, batch)

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[Subscription]:
        subscription = Subscription(channel)
        self._fanout.add(subscription)
        try:
            yield subscription
        finally:
            self._fanout.discard(subscription)


class RedisHub:
    """Redis pub/sub: one publishing connection and one shared subscribing connection
    per process, fanned out to local subscribers.

    A message is a JSON array of events (one per channel per committed batch). Channels
    carry ``prefix`` so that tests and installations can share a Redis.
    """

    def __init__(self, url: str, *, prefix: str = DEFAULT_REDIS_PREFIX) -> None:
        self.url = url
        self.prefix = prefix
        self._fanout = _Fanout()
        self._client: Redis | None = None
        self._pubsub: PubSub | None = None
        self._outbox: asyncio.Queue[dict[str, list[dict[str, Any]]]] = asyncio.Queue()
        self._publisher: asyncio.Task[None] | None = None
        self._reader: asyncio.Task[None] | None = None
        # Serialises SUBSCRIBE/UNSUBSCRIBE, so the server sees them in our order.
        self._commands = asyncio.Lock()
        # Per channel, one future per SUBSCRIBE sent, resolved by its confirmation.
        self._confirmations: dict[str, deque[asyncio.Future[None]]] = defaultdict(deque)
        self._background: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        from redis.asyncio import Redis
        from redis.exceptions import RedisError

        self._client = Redis.from_url(self.url)
        try:
            await self._client.ping()  # fail at start-up, with a clear error, not at first use
        except (RedisError, OSError) as exc:
            await self._client.aclose()
            self._client = None
            where = self.url.rsplit("@", 1)[-1]  # no password in the message
            raise ConnectionError(
                f"live events: cannot reach Redis at {where} ({exc}); start Redis or check"
                " PLAIT_REDIS_URL"
            ) from None
        self._pubsub = self._client.pubsub()
        self._publisher = asyncio.get_running_loop().create_task(self._publish_loop())

    async def stop(self) -> None:
        for task in (self._publisher, self._reader):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._pubsub is not None:
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        if self._client is not None:
            await self._client.aclose()

    # -- publishing ----------------------------------------------------------------------

    def publish(self, workspace_id: str, flow_id: str, events: list[dict[str, Any]]) -> None:
        # Queued for one task that publishes in order: publish() is called on the event
        # store's commit path, which must not wait for Redis.
        self._outbox.put_nowait(_by_channel(workspace_id, flow_id, events))

    async def _publish_loop(self) -> None:
        assert self._client is not None
        while True:
            batches = [await self._outbox.get()]
            while not self._outbox.empty():
                batches.append(self._outbox.get_nowait())
            try:
                async with self._client.pipeline(transaction=False) as pipe:
                    for batch in batches:
                        for channel, events in batch.items():
                            pipe.publish(self.prefix + channel, json.dumps(events))
                    await pipe.execute()
            except Exception:
                # Subscribers see the gap in seq and read the events from the database.
                log.exception("publishing run events to Redis failed")

    # -- subscribing ---------------------------------------------------------------------

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[Subscription]:
        assert self._pubsub is not None, "RedisHub.start() was not called"
        subscription = Subscription(channel)
        first = self._fanout.add(subscription)
        try:
            confirmed: asyncio.Future[None] | None
            if first:
                confirmed = asyncio.get_running_loop().create_future()
                async with self._commands:
                    self._confirmations[channel].append(confirmed)
                    await self._pubsub.subscribe(self.prefix + channel)
                self._ensure_reader()
            else:
                pending = self._confirmations.get(channel)
                confirmed = pending[-1] if pending else None
            if confirmed is not None:
                # Live only once Redis confirms: the caller reads its backlog after this.
                await asyncio.wait_for(asyncio.shield(confirmed), SUBSCRIBE_TIMEOUT_S)
            yield subscription
        finally:
            if self._fanout.discard(subscription):
                # In a task of its own: this runs when a socket's task is cancelled,
                # where awaiting is not possible.
                task = asyncio.get_running_loop().create_task(self._unsubscribe(channel))
                self._background.add(task)
                task.add_done_callback(self._background.discard)

    async def _unsubscribe(self, channel: str) -> None:
        assert self._pubsub is not None
        async with self._commands:
            if channel not in self._fanout.subscribers:  # nobody came back meanwhile
                try:
                    await self._pubsub.unsubscribe(self.prefix + channel)
                except Exception:
                    log.warning("unsubscribing from %s failed", channel, exc_info=True)

    def _ensure_reader(self) -> None:
        if self._reader is None or self._reader.done():
            self._reader = asyncio.get_running_loop().create_task(self._read_loop())

    async def _read_loop(self) -> None:
        assert self._pubsub is not None
        while True:
            try:
                message = await self._pubsub.get_message(timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reading run events from Redis failed; retrying")
                await asyncio.sleep(0.5)
                continue
            if message is None:
                continue
            channel = _text(message.get("channel")).removeprefix(self.prefix)
            kind = message.get("type")
            if kind == "subscribe":
                pending = self._confirmations.get(channel)
                if pending:
                    future = pending.popleft()
                    if not future.done():
                        future.set_result(None)
                    if not pending:
                        del self._confirmations[channel]
            elif kind == "message":
                try:
                    events = json.loads(message["data"])
                except (TypeError, ValueError):
                    log.warning("ignoring a malformed message on %s", channel)
                    continue
                self._fanout.deliver(channel, events)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")
