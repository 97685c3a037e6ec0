"""Runs outlive the server process: a stop leaves waiting runs resumable, a start resumes
runs left running and starts runs left queued, and no succeeded node runs twice.

(A real SIGKILL of ``plait serve`` is in ``test_serve_crash.py``.)
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from apikit import Api, client_for, new_workspace
from runkit import Env, add_flow, chain, node, wait_for, wait_for_node, wait_for_run
from sqlalchemy import select

from plait.api.db.models import Flow, Run
from plait.api.platform import Platform
from plait.api.runs.plans import PlanCache
from plait.api.services import runs as service


def started(env: Env, run_id: str) -> Counter[str]:
    return Counter(e["node_id"] for e in env.events(run_id) if e["type"] == "node.started")


def status_in_db(platform: Platform, run_id: str) -> str:
    with platform.db.session() as session:
        status = session.scalar(select(Run.status).where(Run.id == run_id))
    assert status is not None
    return status


def test_a_waiting_run_is_left_at_stop_and_resumed_at_start(any_platform: Platform) -> None:
    token = new_workspace(any_platform, "alpha")
    with client_for(any_platform) as client:
        env = Env(Api(client, token), any_platform)
        flow_id = env.flow(
            chain(
                node("count", "test.counter"),
                node("wait", "test.wait_signal"),
                node("end", "data.set"),
            )
        )
        run_id = env.start(flow_id, input=1)["id"]
        wait_for_node(env.api, run_id, "wait", "suspended")
    # The server stopped without waiting for a run that only waits: it is still running.
    assert status_in_db(any_platform, run_id) == "running"

    with client_for(any_platform) as client:
        env = Env(Api(client, token), any_platform)
        # Resumed: the waiting node waits again, and a signal reaches it.
        wait_for_node(env.api, run_id, "wait", "suspended")
        sent = env.api.post(f"/api/runs/{run_id}/signals/go", json={"payload": "ok"})
        assert sent.status_code == 202, sent.text
        run = wait_for_run(env.api, run_id)
        assert run["status"] == "succeeded"
        assert run["nodes"]["wait"]["outputs"] == {"payload": "ok"}
        counts = started(env, run_id)
    assert counts["count"] == 1 and counts["start"] == 1  # succeeded nodes did not run again
    assert counts["wait"] == 2  # it was waiting at the stop: it runs again, as documented
    assert run["nodes"]["count"]["outputs"] == {"count": 1}


def test_a_run_at_work_gets_the_grace_period_to_finish(platform: Platform) -> None:
    token = new_workspace(platform, "alpha")
    with client_for(platform) as client:
        env = Env(Api(client, token), platform)
        flow_id = env.flow(
            chain(node("work", "test.busy", {"seconds": 0.5}), node("end", "data.set"))
        )
        run_id = env.start(flow_id, input=2)["id"]
        wait_for_node(env.api, run_id, "work", "running")
    assert status_in_db(platform, run_id) == "succeeded"


def test_a_run_left_queued_starts_with_the_server(any_platform: Platform) -> None:
    """A run committed queued whose server died before executing it."""
    flow_id = add_flow(any_platform, "alpha", chain(node("a", "data.set", {"values": {"v": 1}})))
    with any_platform.db.session() as session:
        flow = session.get(Flow, flow_id)
        assert flow is not None
        target = service.resolve_target(session, flow, None, PlanCache(any_platform.registry))
        run = service.create_run(
            session,
            workspace_id=flow.workspace_id,
            flow=flow,
            target=target,
            input=None,
            trigger_node="start",
        )
        run_id = run.id
    with client_for(any_platform) as client:
        api = Api(client, new_workspace(any_platform, "alpha"))
        done: dict[str, Any] = wait_for_run(api, run_id)
    assert done["status"] == "succeeded" and done["result"] == {"a": {"output": {"v": 1}}}


def test_a_parent_and_its_child_resume_together(platform: Platform) -> None:
    token = new_workspace(platform, "alpha")
    with client_for(platform) as client:
        env = Env(Api(client, token), platform)
        child_flow = env.flow(chain(node("wait", "test.wait_signal")), name="Waiter")
        parent_flow = env.flow(chain(node("call", "test.run_child", {"flow": "Waiter"})))
        parent_id = env.start(parent_flow, input="x")["id"]
        child_id = wait_for(lambda: env.api.get(f"/api/flows/{child_flow}/runs").json()["items"])[
            0
        ]["id"]
        wait_for_node(env.api, child_id, "wait", "suspended")
    # Both were only waiting, so the stop left them at once; both are still running.
    assert status_in_db(platform, parent_id) == status_in_db(platform, child_id) == "running"

    with client_for(platform) as client:
        env = Env(Api(client, token), platform)
        wait_for_node(env.api, child_id, "wait", "suspended")
        assert (
            env.api.post(f"/api/runs/{child_id}/signals/go", json={"payload": 7}).status_code == 202
        )
        parent = wait_for_run(env.api, parent_id)
        assert parent["status"] == "succeeded", parent
        assert parent["result"] == {"call": {"outputs": {"wait": {"payload": 7}}}}
        # The parent's node ran again after the restart, found its child, and waited for it.
        assert len(env.api.get(f"/api/flows/{child_flow}/runs").json()["items"]) == 1
        assert started(env, parent_id)["call"] == 2 and started(env, child_id)["start"] == 1
