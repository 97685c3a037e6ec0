"""What runs beside the API in one process: the run dispatcher, live events, resume of
runs left behind by a killed server. Started and stopped by the app's lifespan.

A hub or dispatcher already set on the platform is used as it is (tests and embedders
inject their own); otherwise they are built from the settings: the in-process hub, or
Redis pub/sub when ``PLAIT_REDIS_URL`` is set; the local dispatcher with
``PLAIT_RUN_WORKERS`` workers, or with ``PLAIT_QUEUE=bullmq`` the BullMQ dispatcher,
which only enqueues: ``plait worker`` processes execute the runs (docs/scale.md).

``platform.route_events`` (``routing.RouteEvents``) is set here too, so publishing can
invalidate the router's cached route tables: in the process, and over Redis pub/sub when
``PLAIT_REDIS_URL`` is set (its listener starts here and is live before requests come).
"""

from __future__ import annotations

import logging

from .platform import Platform
from .runs.dispatcher import DEFAULT_GRACE_S, LocalRunDispatcher, RunDispatcher
from .runs.hub import LocalHub, RedisHub, RunEventHub

log = logging.getLogger(__name__)


async def start(platform: Platform) -> None:
    """Start the live-event hub, then the dispatcher (which resumes left-behind runs)."""
    if platform.hub is None:
        url = platform.settings.redis_url
        prefix = platform.settings.redis_prefix
        platform.hub = RedisHub(url, prefix=prefix) if url else LocalHub()
    await platform.hub.start()
    from .routing import route_events

    await route_events(platform).start()
    if platform.dispatcher is None:
        platform.dispatcher = make_dispatcher(platform, platform.hub)
    await platform.dispatcher.start()


def make_dispatcher(platform: Platform, hub: RunEventHub) -> RunDispatcher:
    """The dispatcher ``settings.queue`` asks for."""
    if platform.settings.queue == "bullmq":
        from .runs.queue import QueueDispatcher

        return QueueDispatcher(platform, hub)
    return LocalRunDispatcher(platform, hub)


async def stop(platform: Platform, *, grace_s: float = DEFAULT_GRACE_S) -> None:
    """Stop gracefully: runs in flight get ``grace_s`` to end, then are left to resume on
    the next start; then the hub closes."""
    if platform.dispatcher is not None:
        await platform.dispatcher.stop(grace_s)
        platform.dispatcher = None
    if platform.hub is not None:
        await platform.hub.stop()
        platform.hub = None
    events = getattr(platform, "route_events", None)
    if events is not None:
        await events.stop()
