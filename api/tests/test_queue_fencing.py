"""The fence at the database, and the reconciler after Redis lost its jobs.

Two executors that both believe they hold a run (a worker that lost its lock, and the
one the queue gave the run to) cannot both write its events: ``UNIQUE(run_id, seq)``
lets one write the next event, and the other stops that run quietly, saying why.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from apikit import Api, client_for, new_workspace
from queuekit import WorkerThread, queue_platform
from runkit import (
    Env,
    add_flow,
    chain,
    node,
    register_test_nodes,
    wait_for,
    wait_for_node,
    wait_for_run,
)

from plait.api.db.models import Flow
from plait.api.platform import Platform
from plait.api.runs.dispatcher import LocalRunDispatcher
from plait.api.runs.hub import LocalHub
from plait.api.runs.plans import PlanCache
from plait.api.services import runs as service

pytestmark = pytest.mark.slow


def queued_run(platform: Platform, document: dict[str, Any]) -> str:
    flow_id = add_flow(platform, "alpha", document)
    with platform.db.session() as session:
        flow = session.get(Flow, flow_id)
        assert flow is not None
        target = service.resolve_target(session, flow, None, PlanCache(platform.registry))
        run = service.create_run(
            session,
            workspace_id=flow.workspace_id,
            flow=flow,
            target=target,
            input=None,
            trigger_node="start",
        )
        return run.id


def test_of_two_executors_of_one_run_one_is_fenced_off(
    any_platform: Platform, caplog: pytest.LogCaptureFixture
) -> None:
    platform = any_platform
    register_test_nodes(platform)
    run_id = queued_run(
        platform,
        chain(*(node(f"n{i}", "test.busy", {"seconds": 0.3}) for i in range(1, 5))),
    )

    async def main() -> None:
        hub = LocalHub()
        first, second = (
            LocalRunDispatcher(platform, hub, resume_left_behind=False, claim=True, name=name)
            for name in ("first", "second")
        )
        await first.start()
        await second.start()
        await first.dispatch(run_id)
        # Once the first executor has durably finished a node, the second one takes the
        # run over too — as a worker does when the queue hands it a run whose worker
        # merely stalled.
        deadline = asyncio.get_running_loop().time() + 30
        while not any(e.type == "node.succeeded" for e in await first.store.load(run_id)):
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.02)
        await second.dispatch(run_id)
        assert await first.wait(run_id, 30) and await second.wait(run_id, 30)
        await first.stop(1)
        await second.stop(1)

    with caplog.at_level(logging.INFO, logger="plait.api.runs"):
        asyncio.run(main())

    store = LocalRunDispatcher(platform, LocalHub()).store
    events = store.load_sync(run_id)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    types = [e.type for e in events]
    assert types.count("run.started") == 1 and types[-1] == "run.succeeded"
    assert sum(t.startswith("run.") for t in types) == 2  # started, succeeded: no other end
    succeeded = Counter(e.node_id for e in events if e.type == "node.succeeded")
    assert all(count == 1 for count in succeeded.values()), succeeded
    assert set(succeeded) == {"start", "n1", "n2", "n3", "n4"}
    assert any("claimed by second" in str(e.data) for e in events)
    assert "another executor wrote its next event first" in caplog.text


def test_after_redis_lost_every_job_the_reconciler_finishes_each_run_once(
    tmp_path: Path,
) -> None:
    with (
        queue_platform(tmp_path / "data") as platform,
        client_for(platform) as client,
        WorkerThread(platform.settings, concurrency=1),
    ):
        env = Env(Api(client, new_workspace(platform, "alpha")), platform)
        waiting = env.start(
            env.flow(chain(node("count", "test.counter"), node("wait", "test.wait_signal")))
        )["id"]
        wait_for_node(env.api, waiting, "wait", "suspended")
        # The only slot is taken, so this one waits in the queue.
        queued = env.start(env.flow(chain(node("count", "test.counter"))))["id"]

        # Redis loses everything of this installation (a FLUSHDB, a restart with no
        # persistence): the job in hand, the one waiting, the locks.
        import redis

        settings = platform.settings
        raw = redis.Redis.from_url(settings.redis_url or "")
        for key in raw.scan_iter(match=settings.redis_prefix + "*"):
            raw.delete(key)
        raw.close()

        reconciler = platform.dispatcher.reconciler
        reconciler.min_age_s = 0
        added = client.portal.call(lambda: reconciler.run_once(force=True))
        assert set(added) == {waiting, queued}
        sent = env.api.post(f"/api/runs/{waiting}/signals/go", json={"payload": 1})
        assert sent.status_code == 202, sent.text
        for run_id in (waiting, queued):
            run = wait_for_run(env.api, run_id)
            assert run["status"] == "succeeded", run
            assert run["nodes"]["count"]["outputs"] == {"count": 1}
            events = env.events(run_id)
            assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
            ends = [e for e in events if e["type"] == "run.succeeded"]
            started = Counter(e["node_id"] for e in events if e["type"] == "node.started")
            assert len(ends) == 1 and started["count"] == 1


def test_a_cancel_reaches_a_run_whose_worker_is_gone_and_fences_it_off(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The worker holding the run stops answering (its event loop is frozen: a long
    pause, a network cut): the cancel ends the run in the database, and when the worker
    comes back, its next write conflicts and it lets the run go."""
    import threading

    with (
        queue_platform(tmp_path / "data") as platform,
        client_for(platform) as client,
        caplog.at_level(logging.INFO, logger="plait.api.runs"),
    ):
        worker = WorkerThread(platform.settings, concurrency=1).start()
        try:
            env = Env(Api(client, new_workspace(platform, "alpha")), platform)
            flow = chain(
                node("work", "test.busy", {"seconds": 1.5}), node("wait", "test.wait_signal")
            )
            run_id = env.start(env.flow(flow))["id"]
            wait_for_node(env.api, run_id, "work", "running")
            worker.loop.call_soon_threadsafe(worker.loop.stop)
            worker._thread.join(10)

            cancelled = env.api.post(f"/api/runs/{run_id}/cancel")
            assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"

            worker._thread = threading.Thread(target=worker.loop.run_forever, daemon=True)
            worker._thread.start()
            wait_for(lambda: "another executor wrote its next event first" in caplog.text)
            wait_for(lambda: not worker.worker.local._jobs)
        finally:
            worker.stop()
        events = env.events(run_id)
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        types = [e["type"] for e in events]
        assert types[-1] == "run.cancelled" and types.count("run.cancelled") == 1
        assert not [e for e in events if e["type"] == "node.succeeded" and e["node_id"] != "start"]


def test_a_run_at_work_past_the_grace_period_is_handed_to_another_worker(
    tmp_path: Path,
) -> None:
    with (
        queue_platform(tmp_path / "data") as platform,
        client_for(platform) as client,
        WorkerThread(platform.settings, concurrency=1, name="leaving") as leaving,
    ):
        env = Env(Api(client, new_workspace(platform, "alpha")), platform)
        flow = chain(node("count", "test.counter"), node("work", "test.busy", {"seconds": 2}))
        run_id = env.start(env.flow(flow))["id"]
        wait_for_node(env.api, run_id, "work", "running")
        with WorkerThread(platform.settings, concurrency=1, name="staying"):
            leaving.stop(grace_s=0.2)  # too short for the node at work
            run = wait_for_run(env.api, run_id)
            assert run["status"] == "succeeded", run
        events = env.events(run_id)
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        started = Counter(e["node_id"] for e in events if e["type"] == "node.started")
        succeeded = Counter(e["node_id"] for e in events if e["type"] == "node.succeeded")
        assert started["count"] == 1 and started["work"] == 2  # cut off, then run again
        assert succeeded["count"] == succeeded["work"] == 1
        assert any("claimed by staying" in str(e.get("data")) for e in events)
