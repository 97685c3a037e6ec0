"""The RunDispatcher contract, against both dispatchers (ARCHITECTURE.md §6).

``local``: the embedded default, runs executed in the API's process (PostgreSQL here).
``bullmq``: the API only enqueues (``PLAIT_QUEUE=bullmq``), and a ``QueueWorker`` on its
own event loop and its own connections (a thread of this process, so that the test
nodes are registered in it) executes the runs from the real Redis.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from apikit import Api, client_for, new_workspace, platform_for
from queuekit import WorkerThread, queue_platform, run_status
from runkit import Env, chain, node, wait_for, wait_for_node, wait_for_run

from plait.api.db.models import Flow
from plait.api.platform import Platform
from plait.api.runs.plans import PlanCache
from plait.api.services import runs as service

pytestmark = pytest.mark.slow


class Setting:
    """The API (and, with BullMQ, a worker) of one test."""

    def __init__(self, kind: str, env: Env, client: Any, worker: WorkerThread | None) -> None:
        self.kind = kind
        self.env = env
        self.client = client
        self.worker = worker

    @property
    def dispatcher(self) -> Any:
        return self.env.platform.dispatcher

    def call(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        """Call an async method of the API's dispatcher on the API's event loop."""
        return self.client.portal.call(lambda: function(*args, **kwargs))


@pytest.fixture(params=["local", "bullmq"])
def setting(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Setting]:
    # One worker slot: a second run stays queued while the first one holds the slot.
    if request.param == "local":
        with (
            platform_for("postgresql", tmp_path / "data", run_workers=1) as platform,
            client_for(platform) as client,
        ):
            env = Env(Api(client, new_workspace(platform, "alpha")), platform)
            yield Setting("local", env, client, None)
        return
    with (
        queue_platform(tmp_path / "data") as platform,
        client_for(platform) as client,
        WorkerThread(platform.settings, concurrency=1) as w,
    ):
        env = Env(Api(client, new_workspace(platform, "alpha")), platform)
        yield Setting("bullmq", env, client, w)


def started(env: Env, run_id: str) -> Counter[str]:
    return Counter(e["node_id"] for e in env.events(run_id) if e["type"] == "node.started")


def test_a_run_starts_and_is_waited_for(setting: Setting) -> None:
    env = setting.env
    flow_id = env.flow(chain(node("greet", "data.set", {"values": {"hi": "{{ inputs.input }}"}})))
    run = env.start(flow_id, input="Ada", wait_s=30)
    assert run["status"] == "succeeded", run
    assert run["result"] == {"greet": {"output": {"hi": "Ada"}}}


def test_a_failing_run_fails(setting: Setting) -> None:
    env = setting.env
    run = env.run(env.flow(chain(node("boom", "test.fail"), node("after", "data.set"))))
    assert run["status"] == "failed" and run["error"]["node_id"] == "boom"
    assert run["nodes"]["after"]["status"] == "abandoned"


def test_cancel_a_queued_run_and_a_running_one(setting: Setting) -> None:
    env = setting.env
    first = env.start(env.flow(chain(node("wait", "test.wait_signal"))))
    wait_for_node(env.api, first["id"], "wait", "suspended")
    # The only slot is taken: this one stays queued.
    second = env.start(env.flow(chain(node("a", "data.set"))))
    assert env.api.get(f"/api/runs/{second['id']}").json()["status"] == "queued"
    cancelled = env.api.post(f"/api/runs/{second['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"

    stopped = env.api.post(f"/api/runs/{first['id']}/cancel")
    assert stopped.status_code == 200, stopped.text
    assert wait_for_run(env.api, first["id"])["status"] == "cancelled"
    assert wait_for_run(env.api, second["id"])["status"] == "cancelled"
    # The queued one never started, even once the slot was free.
    assert started(env, second["id"]) == Counter()
    after = env.run(env.flow(chain(node("b", "data.set"))))
    assert after["status"] == "succeeded"
    assert env.api.get(f"/api/runs/{second['id']}").json()["status"] == "cancelled"


def test_a_signal_reaches_the_run_wherever_it_executes(setting: Setting) -> None:
    env = setting.env
    run = env.start(env.flow(chain(node("approve", "test.wait_signal", {"name": "ok"}))))
    wait_for_node(env.api, run["id"], "approve", "suspended")
    sent = env.api.post(f"/api/runs/{run['id']}/signals/ok", json={"payload": 42})
    assert sent.status_code == 202, sent.text
    done = wait_for_run(env.api, run["id"])
    assert done["result"] == {"approve": {"payload": 42}}
    assert env.api.post(f"/api/runs/{run['id']}/signals/ok", json={}).status_code == 409


def test_a_duplicate_dispatch_is_harmless(setting: Setting) -> None:
    env = setting.env
    flow_id = env.flow(chain(node("count", "test.counter"), node("wait", "test.wait_signal")))
    run_id = env.start(flow_id)["id"]
    wait_for_node(env.api, run_id, "wait", "suspended")
    for _ in range(3):
        setting.call(setting.dispatcher.dispatch, run_id)
    assert env.api.post(f"/api/runs/{run_id}/signals/go", json={}).status_code == 202
    done = wait_for_run(env.api, run_id)
    assert done["status"] == "succeeded" and done["nodes"]["count"]["outputs"] == {"count": 1}
    assert started(env, run_id)["count"] == 1
    # A dispatch of a run that ended does nothing.
    setting.call(setting.dispatcher.dispatch, run_id)
    assert env.run(env.flow(chain(node("b", "data.set"))))["status"] == "succeeded"
    assert env.api.get(f"/api/runs/{run_id}").json()["status"] == "succeeded"


def test_a_child_run_executes_and_its_outputs_come_back(setting: Setting) -> None:
    env = setting.env
    env.flow(
        chain(node("double", "data.set", {"values": {"x": "{{ inputs.input * 2 }}"}})), name="D"
    )
    parent = env.run(env.flow(chain(node("call", "test.run_child", {"flow": "D"}))), input=4)
    assert parent["status"] == "succeeded", parent
    assert parent["result"] == {"call": {"outputs": {"double": {"output": {"x": 8}}}}}


def test_cancelling_a_parent_cancels_its_child(setting: Setting) -> None:
    env = setting.env
    child_flow = env.flow(chain(node("wait", "test.wait_signal")), name="Waiter")
    parent = env.start(env.flow(chain(node("call", "test.run_child", {"flow": "Waiter"}))))
    child = wait_for(lambda: env.api.get(f"/api/flows/{child_flow}/runs").json()["items"])[0]
    wait_for_node(env.api, child["id"], "wait", "suspended")
    assert env.api.post(f"/api/runs/{parent['id']}/cancel").json()["status"] == "cancelled"
    assert wait_for_run(env.api, child["id"])["status"] == "cancelled"


def test_an_idempotency_key_gives_one_run(setting: Setting) -> None:
    env = setting.env
    flow_id = env.flow(chain(node("count", "test.counter")))
    headers = {"Idempotency-Key": "k1"}
    first = env.api.post(f"/api/flows/{flow_id}/runs", json={}, headers=headers)
    again = env.api.post(f"/api/flows/{flow_id}/runs", json={"wait_s": 30}, headers=headers)
    assert first.status_code == 201 and again.status_code == 200, again.text
    assert first.json()["id"] == again.json()["id"] and again.json()["status"] == "succeeded"
    assert again.json()["result"] == {"count": {"count": 1}}


def test_a_run_left_queued_is_executed(setting: Setting, tmp_path: Path) -> None:
    """A run committed queued whose dispatch was lost (the process died before it, or
    Redis lost the job): the local dispatcher's next start, or the reconciler, runs it."""
    env = setting.env
    platform = env.platform
    flow_id = env.flow(chain(node("a", "data.set", {"values": {"v": 1}})))
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
        run_id = run.id
    if setting.kind == "local":
        setting.call(platform.dispatcher.start)  # what the next start of the server does
    else:
        reconciler = platform.dispatcher.reconciler
        reconciler.min_age_s = 0
        assert setting.call(reconciler.run_once, force=True) == [run_id]
        # Idempotent: the job is there now.
        assert setting.call(reconciler.run_once, force=True) in ([], [run_id])
    assert wait_for_run(env.api, run_id)["status"] == "succeeded"
    assert started(env, run_id)["a"] == 1


def test_a_run_resumes_after_its_executor_stops(setting: Setting, tmp_path: Path) -> None:
    """A run waiting on a signal when its executor stops: it is resumed (by the next start,
    or by another worker, handed back at once) and no succeeded node runs again."""
    env = setting.env
    flow_id = env.flow(
        chain(
            node("count", "test.counter"), node("wait", "test.wait_signal"), node("end", "data.set")
        )
    )
    run_id = env.start(flow_id)["id"]
    wait_for_node(env.api, run_id, "wait", "suspended")
    if setting.kind == "local":
        setting.call(setting.dispatcher.stop, 1.0)
        env.platform.dispatcher = None  # the next start makes a new one, as a restart does
        assert run_status(env.platform, run_id) == "running"
        with client_for(env.platform) as client:
            _resume_and_finish(Env(Api(client, env.api.token), env.platform), run_id)
        return
    assert setting.worker is not None
    with WorkerThread(env.platform.settings, concurrency=1, name="second") as second:
        setting.worker.stop(grace_s=5)  # only waiting: handed back at once
        assert run_status(env.platform, run_id) == "running"
        wait_for(lambda: "second" in str(env.events(run_id)))  # claimed by the second one
        _resume_and_finish(env, run_id)
        assert second.worker.local.store.events_written > 0


def _resume_and_finish(env: Env, run_id: str) -> None:
    wait_for_node(env.api, run_id, "wait", "suspended")
    sent = env.api.post(f"/api/runs/{run_id}/signals/go", json={"payload": "ok"})
    assert sent.status_code == 202, sent.text
    run = wait_for_run(env.api, run_id)
    assert run["status"] == "succeeded", run
    counts = started(env, run_id)
    assert counts["count"] == 1 and counts["start"] == 1
    assert run["nodes"]["count"]["outputs"] == {"count": 1}


def test_the_api_process_does_not_execute_runs_with_bullmq(tmp_path: Path) -> None:
    with queue_platform(tmp_path / "data") as platform:
        platform_any: Platform = platform
        with client_for(platform_any) as client:
            env = Env(Api(client, new_workspace(platform_any, "alpha")), platform_any)
            run = env.start(env.flow(chain(node("a", "data.set"))), wait_s=1)
            # No worker: it stays queued, and the API's dispatcher has no engine at all.
            assert run["status"] == "queued"
            assert not hasattr(platform_any.dispatcher, "executor")
            with WorkerThread(platform_any.settings, concurrency=1):
                assert wait_for_run(env.api, run["id"])["status"] == "succeeded"


def _allow_connections(database_url: str, allow: bool) -> None:
    """Open or close the test's own database to connections (closing also ends those
    open): an outage of that database only, the server stays up for other tests."""
    import psycopg
    from servicekit import PG_ADMIN_URL

    name = database_url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {str(allow).lower()}')
        if not allow:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )


def test_a_database_outage_stops_runs_that_resume_when_it_answers(setting: Setting) -> None:
    env = setting.env
    flow = chain(*(node(f"n{i}", "test.busy", {"seconds": 0.4}) for i in range(1, 7)))
    run_id = env.start(env.flow(flow))["id"]
    wait_for_node(env.api, run_id, "n2", "running")
    database_url = env.platform.settings.database_url or ""
    _allow_connections(database_url, False)
    try:
        time.sleep(3)  # the outage; the run's writes fail meanwhile
    finally:
        _allow_connections(database_url, True)
    run = wait_for_run(env.api, run_id, timeout_s=60)
    assert run["status"] == "succeeded", run
    events = env.events(run_id)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    succeeded = Counter(e["node_id"] for e in events if e["type"] == "node.succeeded")
    assert set(succeeded) == {"start", *(f"n{i}" for i in range(1, 7))}
    assert all(count == 1 for count in succeeded.values()), succeeded
