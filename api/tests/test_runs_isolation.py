"""Two workspaces: nothing of one's runs — runs, events, actions, sockets, child runs,
idempotency keys — can be read, changed or reached from the other (404, never 403)."""

from __future__ import annotations

import pytest
from apikit import Api, new_workspace
from runkit import Env, add_flow, chain, node, wait_for_node
from starlette.websockets import WebSocketDisconnect

from plait.api.platform import Platform


@pytest.fixture
def env(any_api: Api, any_platform: Platform) -> Env:
    return Env(any_api, any_platform)


def test_another_workspace_cannot_touch_a_run(env: Env) -> None:
    flow_id = env.flow(chain(node("wait", "test.wait_signal")))
    run_id = env.start(flow_id)["id"]
    wait_for_node(env.api, run_id, "wait", "suspended")
    beta_flow = add_flow(env.platform, "beta", chain(node("a", "data.set")))
    beta = env.api.as_token(new_workspace(env.platform, "beta"))
    beta_run = beta.post(f"/api/flows/{beta_flow}/runs", json={"wait_s": 30}).json()["id"]

    attempts = [
        ("GET", f"/api/runs/{run_id}", None),
        ("GET", f"/api/runs/{run_id}/events", None),
        ("POST", f"/api/runs/{run_id}/cancel", None),
        ("POST", f"/api/runs/{run_id}/retry", None),
        ("POST", f"/api/runs/{run_id}/replay", {}),
        ("POST", f"/api/runs/{run_id}/signals/go", {"payload": "hijack"}),
        ("GET", f"/api/runs/{run_id}/diff/{beta_run}", None),
        ("GET", f"/api/runs/{beta_run}/diff/{run_id}", None),
        ("GET", f"/api/flows/{flow_id}/runs", None),
        ("POST", f"/api/flows/{flow_id}/runs", {"wait_s": 1}),
    ]
    for method, url, body in attempts:
        response = beta.request(method, url, json=body)
        assert response.status_code == 404, (method, url, response.text)
        assert response.json()["error"]["code"] == "not_found"

    # The run is untouched: still waiting, and only its owner's signal reaches it.
    assert env.api.get(f"/api/runs/{run_id}").json()["status"] == "running"
    assert env.api.post(f"/api/runs/{run_id}/signals/go", json={"payload": 1}).status_code == 202


def test_idempotency_keys_of_two_workspaces_never_meet(env: Env) -> None:
    alpha_flow = env.flow(chain(node("a", "data.set")))
    beta_flow = add_flow(env.platform, "beta", chain(node("a", "data.set")))
    beta = env.api.as_token(new_workspace(env.platform, "beta"))
    headers = {"Idempotency-Key": "same-key"}
    first = env.api.post(f"/api/flows/{alpha_flow}/runs", json={}, headers=headers)
    second = beta.post(f"/api/flows/{beta_flow}/runs", json={}, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]


def test_sockets_refuse_another_workspace(env: Env) -> None:
    flow_id = env.flow(chain(node("a", "data.set")))
    run_id = env.run(flow_id)["id"]
    beta_token = new_workspace(env.platform, "beta")
    for url in (f"/api/ws/runs/{run_id}", f"/api/ws/flows/{flow_id}", "/api/ws/runs/nope"):
        with env.api.client.websocket_connect(f"{url}?token={beta_token}") as ws:
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
            assert closed.value.code == 4404


def test_a_child_run_cannot_reach_another_workspaces_flow(env: Env) -> None:
    beta_flow = add_flow(env.platform, "beta", chain(node("a", "data.set")), name="Secretive")
    for reference in (beta_flow, "Secretive"):
        flow_id = env.flow(chain(node("call", "test.run_child", {"flow": reference})))
        run = env.run(flow_id)
        assert run["status"] == "failed" and run["error"]["kind"] == "child_run"
        assert "no flow" in run["error"]["message"]
