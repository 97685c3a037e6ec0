"""The run API on SQLite and PostgreSQL: start, read, list, events, cancel, retry, run
from a node, replay and diff, signals, idempotency, and the durable node services."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from apikit import Api, new_workspace
from clikit import edge, flow_doc
from runkit import (
    Env,
    add_secret,
    add_version,
    chain,
    node,
    wait_for,
    wait_for_node,
    wait_for_run,
)

from plait.api.db.models import Flow
from plait.api.platform import Platform


@pytest.fixture
def env(any_api: Api, any_platform: Platform) -> Env:
    return Env(any_api, any_platform)


def greet(greeting: str = "Hello") -> dict[str, Any]:
    return chain(node("greet", "data.set", {"values": {"text": greeting + " {{ inputs.input }}"}}))


def started_nodes(events: list[dict[str, Any]]) -> Counter[str]:
    return Counter(e["node_id"] for e in events if e["type"] == "node.started")


# -- starting and reading -------------------------------------------------------------------


def test_a_draft_run_succeeds_with_the_outputs_of_its_last_nodes(env: Env) -> None:
    flow_id = env.flow(greet())
    run = env.start(flow_id, input="Ada", wait_s=30)
    assert run["status"] == "succeeded" and run["kind"] == "manual"
    assert run["result"] == {"greet": {"output": {"text": "Hello Ada"}}}
    assert run["version"] is None and run["trigger"] == "start" and run["input"] == "Ada"
    assert run["error"] is None and run["flow_id"] == flow_id
    assert run["created_at"] <= run["started_at"] <= run["finished_at"]


def test_a_run_without_waiting_is_accepted_then_finishes(env: Env) -> None:
    flow_id = env.flow(greet())
    run = env.start(flow_id, input="Bo")
    assert run["status"] in ("queued", "running", "succeeded")
    done = wait_for_run(env.api, run["id"])
    assert done["status"] == "succeeded"
    assert done["result"] == {"greet": {"output": {"text": "Hello Bo"}}}


def test_a_version_run_runs_that_version_not_the_draft(env: Env) -> None:
    flow_id = env.flow(greet("Draft"))
    add_version(env.platform, flow_id, greet("Version one"), 1)
    run = env.start(flow_id, input="Cy", version=1, wait_s=30)
    assert run["version"] == 1
    assert run["result"]["greet"]["output"]["text"] == "Version one Cy"
    draft = env.start(flow_id, input="Cy", wait_s=30)
    assert draft["result"]["greet"]["output"]["text"] == "Draft Cy"
    missing = env.api.post(f"/api/flows/{flow_id}/runs", json={"version": 9})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_a_failing_run_reports_the_failed_node_and_what_was_abandoned(env: Env) -> None:
    flow_id = env.flow(chain(node("boom", "test.fail"), node("after", "data.set")))
    run = env.run(flow_id, input=1)
    assert run["status"] == "failed"
    assert run["error"]["kind"] == "test" and run["error"]["node_id"] == "boom"
    nodes = run["nodes"]
    assert nodes["start"]["status"] == "succeeded"
    assert nodes["boom"]["status"] == "failed" and nodes["boom"]["error"]["kind"] == "test"
    assert nodes["boom"]["inputs"] == {"input": 1} and nodes["boom"]["attempts"] == 1
    assert nodes["after"]["status"] == "abandoned" and nodes["after"]["inputs"] is None


def test_node_states_show_inputs_outputs_attempts_and_times(env: Env) -> None:
    document = flow_doc(
        [
            node("start", "trigger.manual"),
            node("a", "data.set", {"values": {"a": 1}}),
            node("b", "data.set", {"values": {"b": 2}}),
            node("both", "control.merge", {"mode": "all"}),
        ],
        [
            edge("e1", "start", "payload", "a", "input"),
            edge("e2", "start", "payload", "b", "input"),
            edge("e3", "a", "output", "both", "inputs"),
            edge("e4", "b", "output", "both", "inputs"),
        ],
    )
    run = env.run(env.flow(document), input={"x": 0})
    assert run["status"] == "succeeded", run
    nodes = run["nodes"]
    assert nodes["a"]["inputs"] == {"input": {"x": 0}}
    assert nodes["a"]["outputs"] == {"output": {"a": 1}}
    # A multi-edge input shows the list of its values, in edge order.
    assert nodes["both"]["inputs"] == {"inputs": [{"a": 1}, {"b": 2}]}
    for view in nodes.values():
        assert view["attempts"] == 1 and view["error"] is None
        assert view["started_at"] <= view["finished_at"]


def test_a_flow_that_does_not_compile_cannot_run(env: Env) -> None:
    flow_id = env.flow(chain(node("x", "no.such_node")))
    response = env.api.post(f"/api/flows/{flow_id}/runs", json={})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_flow"
    assert any(p["code"] == "unknown_node_type" and p["node_id"] == "x" for p in error["details"])


def test_the_trigger_that_fires_can_be_named(env: Env) -> None:
    document = flow_doc(
        [
            node("one", "trigger.manual"),
            node("two", "trigger.manual"),
            node("out1", "data.set"),
            node("out2", "data.set"),
        ],
        [
            edge("e1", "one", "payload", "out1", "input"),
            edge("e2", "two", "payload", "out2", "input"),
        ],
    )
    flow_id = env.flow(document)
    ambiguous = env.api.post(f"/api/flows/{flow_id}/runs", json={})
    assert ambiguous.status_code == 422 and "name the one" in ambiguous.json()["error"]["message"]
    wrong = env.api.post(f"/api/flows/{flow_id}/runs", json={"trigger": "out1"})
    assert wrong.status_code == 422
    run = env.run(flow_id, trigger="two", input=7)
    assert run["trigger"] == "two" and run["nodes"]["one"]["status"] == "skipped"
    assert run["nodes"]["out2"]["status"] == "succeeded"


def test_runs_are_listed_newest_first_by_page_and_status(env: Env) -> None:
    flow_id = env.flow(chain(node("wait", "util.delay", {"seconds": "{{ inputs.input }}"})))
    ids = [env.start(flow_id, input=0, wait_s=30)["id"] for _ in range(4)]
    slow = env.start(flow_id, input=600)
    assert env.api.post(f"/api/runs/{slow['id']}/cancel").status_code == 200
    ids.append(slow["id"])

    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = env.api.get(f"/api/flows/{flow_id}/runs", params=params).json()
        assert len(page["items"]) <= 2
        seen += [r["id"] for r in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids[::-1]

    cancelled = env.api.get(f"/api/flows/{flow_id}/runs", params={"status": "cancelled"}).json()
    assert [r["id"] for r in cancelled["items"]] == [slow["id"]]
    both = env.api.get(
        f"/api/flows/{flow_id}/runs", params=[("status", "cancelled"), ("status", "succeeded")]
    ).json()
    assert len(both["items"]) == 5
    bad = env.api.get(f"/api/flows/{flow_id}/runs", params={"cursor": "nonsense!"})
    assert bad.status_code == 422


def test_events_come_in_order_a_page_at_a_time(env: Env) -> None:
    run = env.run(env.flow(greet()), input="Di")
    everything = env.events(run["id"])
    assert [e["seq"] for e in everything] == list(range(1, len(everything) + 1))
    assert everything[0]["type"] == "run.started" and everything[-1]["type"] == "run.succeeded"
    first = env.api.get(f"/api/runs/{run['id']}/events", params={"limit": 2}).json()
    assert [e["seq"] for e in first["items"]] == [1, 2] and first["next_after_seq"] == 2
    rest = env.api.get(
        f"/api/runs/{run['id']}/events", params={"after_seq": 2, "limit": 1000}
    ).json()
    assert rest["items"] == everything[2:] and rest["next_after_seq"] is None


def test_an_idempotency_key_makes_a_repeat_return_the_first_run(env: Env) -> None:
    flow_id = env.flow(greet())
    headers = {"Idempotency-Key": "order-42"}
    first = env.api.post(f"/api/flows/{flow_id}/runs", json={"input": "E"}, headers=headers)
    again = env.api.post(
        f"/api/flows/{flow_id}/runs", json={"input": "E", "wait_s": 30}, headers=headers
    )
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"] and again.json()["status"] == "succeeded"
    other = env.api.post(f"/api/flows/{flow_id}/runs", json={}, headers={"Idempotency-Key": "x"})
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]
    listed = env.api.get(f"/api/flows/{flow_id}/runs").json()["items"]
    assert len(listed) == 2


def test_a_viewer_reads_runs_but_cannot_start_or_cancel_them(env: Env) -> None:
    flow_id = env.flow(greet())
    run = env.run(flow_id, input="F")
    viewer = env.api.as_token(new_workspace(env.platform, "alpha", "viewer"))
    assert viewer.get(f"/api/runs/{run['id']}").status_code == 200
    assert viewer.get(f"/api/flows/{flow_id}/runs").status_code == 200
    refused = viewer.post(f"/api/flows/{flow_id}/runs", json={})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert viewer.post(f"/api/runs/{run['id']}/cancel").status_code == 403
    assert viewer.post(f"/api/runs/{run['id']}/retry").status_code == 403
    assert env.api.as_token(None).get(f"/api/runs/{run['id']}").status_code == 401


# -- cancel, retry, from a node, replay ------------------------------------------------------


def test_cancel_a_running_run(env: Env) -> None:
    flow_id = env.flow(
        chain(node("wait", "util.delay", {"seconds": 600}), node("after", "data.set"))
    )
    run = env.start(flow_id, input=1)
    wait_for_node(env.api, run["id"], "wait", "suspended")
    cancelled = env.api.post(f"/api/runs/{run['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    nodes = env.api.get(f"/api/runs/{run['id']}").json()["nodes"]
    assert nodes["wait"]["status"] == "cancelled" and nodes["after"]["status"] == "cancelled"
    again = env.api.post(f"/api/runs/{run['id']}/cancel")
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"


def test_retry_runs_only_what_did_not_succeed(env: Env) -> None:
    flow_id = env.flow(
        chain(
            node("count", "test.counter"), node("flaky", "test.fail_first"), node("end", "data.set")
        )
    )
    failed = env.run(flow_id, input=None)
    assert failed["status"] == "failed" and failed["nodes"]["flaky"]["status"] == "failed"
    response = env.api.post(f"/api/runs/{failed['id']}/retry")
    assert response.status_code == 201, response.text
    retried = wait_for_run(env.api, response.json()["id"])
    assert retried["kind"] == "retry" and retried["status"] == "succeeded"
    events = env.events(retried["id"])
    seeded = {e["node_id"] for e in events if e["type"] == "node.seeded"}
    assert seeded == {"start", "count"}
    assert set(started_nodes(events)) == {"flaky", "end"}
    # The counter ran once in all: its output was reused, not produced again.
    assert retried["nodes"]["count"]["outputs"] == {"count": 1}
    refused = env.api.post(f"/api/runs/{retried['id']}/retry")
    assert refused.status_code == 409


def test_run_from_a_node_with_pinned_outputs(env: Env) -> None:
    flow_id = env.flow(
        chain(
            node("fetch", "test.counter"),
            node("shape", "data.set", {"values": {"got": "{{ inputs.input }}"}}),
            node("end", "data.set", {"values": {"final": "{{ inputs.input.got }}"}}),
        )
    )
    run = env.run(flow_id, input=None, from_node="shape", pinned={"fetch": {"count": 41}})
    assert run["status"] == "succeeded", run
    assert run["nodes"]["fetch"]["status"] == "succeeded" and run["nodes"]["fetch"]["attempts"] == 0
    assert run["nodes"]["shape"]["inputs"] == {"input": 41}
    assert run["result"] == {"end": {"output": {"final": 41}}}
    assert started_nodes(env.events(run["id"]))["fetch"] == 0

    bad_node = env.api.post(f"/api/flows/{flow_id}/runs", json={"pinned": {"nope": {}}})
    bad_port = env.api.post(f"/api/flows/{flow_id}/runs", json={"pinned": {"fetch": {"x": 1}}})
    bad_from = env.api.post(f"/api/flows/{flow_id}/runs", json={"from_node": "nope"})
    assert bad_node.status_code == bad_port.status_code == bad_from.status_code == 422


def test_a_pin_shaped_like_a_blob_reference_stays_data(env: Env) -> None:
    flow_id = env.flow(chain(node("fetch", "test.counter"), node("end", "data.set")))
    look_alike = {"$blob": "sha256:" + "0" * 64, "size": 3}
    run = env.run(flow_id, from_node="end", pinned={"fetch": {"count": look_alike}})
    assert run["status"] == "succeeded", run
    assert run["nodes"]["end"]["inputs"] == {"input": look_alike}


def test_replay_on_another_version_and_diff_the_two_runs(env: Env) -> None:
    def document(greeting: str) -> dict[str, Any]:
        return chain(
            node("same", "data.set", {"values": {"who": "{{ inputs.input }}"}}),
            node("greet", "data.set", {"values": {"text": greeting + " {{ inputs.input.who }}"}}),
        )

    flow_id = env.flow(document("Hi"))
    add_version(env.platform, flow_id, document("Hello"), 1)
    add_version(env.platform, flow_id, document("Howdy"), 2)
    first = env.start(flow_id, input="Gus", version=1, wait_s=30)
    replayed = env.api.post(f"/api/runs/{first['id']}/replay", json={"version": 2, "wait_s": 30})
    assert replayed.status_code == 201, replayed.text
    second = replayed.json()
    assert second["kind"] == "replay" and second["version"] == 2 and second["input"] == "Gus"
    assert second["result"]["greet"]["output"]["text"] == "Howdy Gus"

    diff = env.api.get(f"/api/runs/{first['id']}/diff/{second['id']}").json()
    assert diff["changed"] == ["greet"]
    greet_diff = diff["nodes"]["greet"]
    assert greet_diff["ports"] == ["output"]
    assert greet_diff["left"]["outputs"]["output"]["text"] == "Hello Gus"
    assert greet_diff["right"]["outputs"]["output"]["text"] == "Howdy Gus"
    assert diff["nodes"]["same"]["changed"] is False

    on_draft = env.api.post(f"/api/runs/{first['id']}/replay", json={"wait_s": 30}).json()
    assert on_draft["version"] is None and on_draft["result"]["greet"]["output"]["text"] == "Hi Gus"


# -- signals and the durable node services ------------------------------------------------


def test_a_signal_wakes_the_node_waiting_for_it(env: Env) -> None:
    flow_id = env.flow(chain(node("approve", "test.wait_signal", {"name": "approval"})))
    run = env.start(flow_id)
    wait_for_node(env.api, run["id"], "approve", "suspended")
    sent = env.api.post(f"/api/runs/{run['id']}/signals/approval", json={"payload": {"ok": True}})
    assert sent.status_code == 202, sent.text
    done = wait_for_run(env.api, run["id"])
    assert done["status"] == "succeeded"
    assert done["result"] == {"approve": {"payload": {"ok": True}}}
    late = env.api.post(f"/api/runs/{run['id']}/signals/approval", json={})
    assert late.status_code == 409


def test_the_key_value_store_lasts_across_runs(env: Env) -> None:
    flow_id = env.flow(chain(node("count", "test.counter")))
    counts = [env.run(flow_id)["result"]["count"]["count"] for _ in range(3)]
    assert counts == [1, 2, 3]
    other = env.flow(chain(node("count", "test.counter")))
    assert env.run(other)["result"]["count"]["count"] == 1  # one namespace per flow


def test_a_child_run_is_a_run_of_its_own_and_its_outputs_come_back(env: Env) -> None:
    child_id = env.flow(
        chain(node("double", "data.set", {"values": {"twice": "{{ inputs.input * 2 }}"}})),
        name="Doubler",
    )
    parent_id = env.flow(chain(node("call", "test.run_child", {"flow": "Doubler"})))
    parent = env.run(parent_id, input=21)
    assert parent["status"] == "succeeded", parent
    assert parent["result"] == {"call": {"outputs": {"double": {"output": {"twice": 42}}}}}
    children = env.api.get(f"/api/flows/{child_id}/runs").json()["items"]
    assert len(children) == 1
    child = children[0]
    assert child["parent_run_id"] == parent["id"] and child["kind"] == "child"
    assert child["status"] == "succeeded" and child["input"] == 21


def test_a_failing_child_fails_its_parent_node(env: Env) -> None:
    env.flow(chain(node("boom", "test.fail")), name="Broken")
    parent_id = env.flow(chain(node("call", "test.run_child", {"flow": "Broken"})))
    parent = env.run(parent_id)
    assert parent["status"] == "failed"
    assert parent["error"]["kind"] == "child_run" and "Broken" in parent["error"]["message"]
    missing = env.run(env.flow(chain(node("call", "test.run_child", {"flow": "Nowhere"}))))
    assert missing["error"]["kind"] == "child_run" and "Nowhere" in missing["error"]["message"]


def test_a_flow_that_runs_itself_stops_at_the_depth_limit(env: Env) -> None:
    flow_id = env.flow(chain(node("again", "test.run_child", {"flow": "Loop"})), name="Loop")
    run = env.run(flow_id)
    assert run["status"] == "failed" and "deep" in str(run["error"])


def test_secrets_of_the_project_reach_expressions(env: Env) -> None:
    flow_id = env.flow(
        chain(node("use", "data.set", {"values": {"auth": "Bearer {{ secrets.TOKEN }}"}}))
    )
    add_secret(env.platform, flow_id, "TOKEN", "s3cret")
    run = env.run(flow_id)
    assert run["result"] == {"use": {"output": {"auth": "Bearer s3cret"}}}


def test_a_secret_set_through_the_api_opens_in_a_run(env: Env) -> None:
    """The sealing context is a contract between the secrets routes and the runs."""
    flow_id = env.flow(chain(node("use", "data.set", {"values": {"key": "{{ secrets.API }}"}})))
    with env.platform.db.session() as session:
        flow = session.get(Flow, flow_id)
        assert flow is not None
        project_id = flow.project_id
    made = env.api.post(f"/api/projects/{project_id}/secrets", json={"name": "API", "value": "k-1"})
    assert made.status_code == 201, made.text
    assert env.run(flow_id)["result"] == {"use": {"output": {"key": "k-1"}}}


def test_cancelling_a_parent_cancels_the_child_it_waits_for(env: Env) -> None:
    child_flow = env.flow(chain(node("wait", "test.wait_signal")), name="Waiter")
    parent = env.start(env.flow(chain(node("call", "test.run_child", {"flow": "Waiter"}))))
    child = wait_for(lambda: env.api.get(f"/api/flows/{child_flow}/runs").json()["items"])[0]
    wait_for_node(env.api, child["id"], "wait", "suspended")
    assert env.api.post(f"/api/runs/{parent['id']}/cancel").json()["status"] == "cancelled"
    assert wait_for_run(env.api, child["id"])["status"] == "cancelled"
