"""Live run events over WebSocket, with the in-process hub and with Redis pub/sub.

Each test parks a run on a signal so that there is a backlog, connects, reads up to the
suspension (which proves the socket is live: the backlog is read after subscribing),
then wakes the run and reads the live rest. Every event must arrive once, in order.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from apikit import Api, client_for, new_workspace, platform_for
from runkit import Env, chain, node, wait_for_node
from servicekit import redis_prefix
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from plait.api.routes import ws as ws_routes
from plait.api.runs.hub import LocalHub, RedisHub
from plait.api.services import auth


@pytest.fixture(params=["local", "redis"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    with platform_for("sqlite", tmp_path / "platform") as platform:
        if request.param == "redis":
            with redis_prefix() as (url, prefix):
                platform.hub = RedisHub(url, prefix=prefix)
                with client_for(platform) as client:
                    yield Env(Api(client, new_workspace(platform, "alpha")), platform)
        else:
            with client_for(platform) as client:
                yield Env(Api(client, new_workspace(platform, "alpha")), platform)


def parked(env: Env) -> tuple[str, str]:
    """A flow whose run waits for the signal "go"; (flow id, id of a run now waiting)."""
    flow_id = env.flow(chain(node("wait", "test.wait_signal"), node("end", "data.set")))
    run = env.start(flow_id, input={"n": 1})
    wait_for_node(env.api, run["id"], "wait", "suspended")
    return flow_id, run["id"]


def receive_until(ws: WebSocketTestSession, etype: str, run_id: str | None = None) -> list[Any]:
    messages = []
    while True:
        message = ws.receive_json()
        messages.append(message)
        if message["type"] == etype and run_id in (None, message["run_id"]):
            return messages


def same(messages: list[dict[str, Any]], events: list[dict[str, Any]]) -> bool:
    """Socket messages (``RunEvent.to_dict()``: no null node, no empty data) against the
    events API's items."""

    def key(e: dict[str, Any]) -> tuple[Any, ...]:
        return (e["run_id"], e["seq"], e["type"], e.get("node_id"), e.get("data") or {}, e["ts"])

    return [key(m) for m in messages] == [key(e) for e in events]


def closed_with(ws: WebSocketTestSession) -> int:
    with pytest.raises(WebSocketDisconnect) as closed:
        ws.receive_json()
    return closed.value.code


def test_a_run_socket_sends_the_backlog_then_live_events_then_closes(env: Env) -> None:
    _, run_id = parked(env)
    url = f"/api/ws/runs/{run_id}?token={env.api.token}"
    with env.api.client.websocket_connect(url) as ws:
        backlog = receive_until(ws, "node.suspended")
        assert (
            env.api.post(f"/api/runs/{run_id}/signals/go", json={"payload": 5}).status_code == 202
        )
        live = receive_until(ws, "run.succeeded")
        assert closed_with(ws) == 1000
    received = backlog + live
    assert [e["seq"] for e in received] == list(range(1, len(received) + 1))
    assert same(received, env.events(run_id))
    assert {"run_id", "seq", "type", "ts"} <= set(received[0])


def test_a_finished_run_sends_its_events_after_a_seq_and_closes(env: Env) -> None:
    run = env.run(env.flow(chain(node("a", "data.set"))))
    url = f"/api/ws/runs/{run['id']}?after_seq=2"
    headers = {"Authorization": f"Bearer {env.api.token}"}
    with env.api.client.websocket_connect(url, headers=headers) as ws:
        received = receive_until(ws, "run.succeeded")
        assert closed_with(ws) == 1000
    assert same(received, env.events(run["id"])[2:])


def test_a_flow_socket_sends_active_runs_then_every_new_run(env: Env) -> None:
    flow_id, first = parked(env)
    url = f"/api/ws/flows/{flow_id}?token={env.api.token}"
    with env.api.client.websocket_connect(url) as ws:
        received = receive_until(ws, "node.suspended", first)  # the active run so far
        second = env.start(flow_id, input={"n": 2})["id"]  # a new run, seen live from seq 1
        received += receive_until(ws, "node.suspended", second)
        for run_id in (first, second):
            assert env.api.post(f"/api/runs/{run_id}/signals/go", json={}).status_code == 202
        ended: set[str] = set()
        while len(ended) < 2:
            message = ws.receive_json()
            received.append(message)
            if message["type"] == "run.succeeded":
                ended.add(message["run_id"])
    for run_id in (first, second):
        assert same([e for e in received if e["run_id"] == run_id], env.events(run_id))


def test_a_socket_needs_a_credential(env: Env) -> None:
    _, run_id = parked(env)
    for url in (f"/api/ws/runs/{run_id}", f"/api/ws/runs/{run_id}?token=plt_nope"):
        with env.api.client.websocket_connect(url) as ws:
            assert closed_with(ws) == 4401


def test_a_session_cookie_opens_a_socket(env: Env) -> None:
    with env.platform.db.session() as session:
        workspace = auth.get_or_create_workspace(session, "alpha")
        user = auth.create_user(session, "ws@example.com", password="long enough pw")
        auth.add_member(session, workspace.id, user.id, "viewer")
    run = env.run(env.flow(chain(node("a", "data.set"))))
    client = env.api.client
    login = client.post(
        "/api/auth/login", json={"email": "ws@example.com", "password": "long enough pw"}
    )
    assert login.status_code == 200
    with client.websocket_connect(f"/api/ws/runs/{run['id']}") as ws:
        assert receive_until(ws, "run.succeeded")[0]["seq"] == 1
    client.cookies.clear()


def test_plait_redis_url_selects_the_redis_hub(tmp_path: Path) -> None:
    with (
        redis_prefix() as (url, _),
        platform_for("sqlite", tmp_path / "p", redis_url=url) as platform,
        client_for(platform) as client,
    ):
        assert isinstance(platform.hub, RedisHub)
        env = Env(Api(client, new_workspace(platform, "alpha")), platform)
        _, run_id = parked(env)
        with client.websocket_connect(f"/api/ws/runs/{run_id}?token={env.api.token}") as ws:
            receive_until(ws, "node.suspended")
            env.api.post(f"/api/runs/{run_id}/signals/go", json={})
            assert receive_until(ws, "run.succeeded")[-1]["run_id"] == run_id


def test_events_lost_in_transport_are_read_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hub that loses every other event, the terminal one included: the socket still
    sends them all, in order (gaps filled, silence polled)."""
    monkeypatch.setattr(ws_routes, "POLL_S", 0.1)
    hub = LocalHub()
    publish = hub.publish

    def lossy(workspace_id: str, flow_id: str, events: list[dict[str, Any]]) -> None:
        publish(workspace_id, flow_id, [e for e in events if e["seq"] % 2])

    hub.publish = lossy  # type: ignore[method-assign]
    with platform_for("sqlite", tmp_path / "p") as platform:
        platform.hub = hub
        with client_for(platform) as client:
            env = Env(Api(client, new_workspace(platform, "alpha")), platform)
            _, run_id = parked(env)
            with client.websocket_connect(f"/api/ws/runs/{run_id}?token={env.api.token}") as ws:
                received = receive_until(ws, "node.suspended")
                env.api.post(f"/api/runs/{run_id}/signals/go", json={})
                received += receive_until(ws, "run.succeeded")
            assert same(received, env.events(run_id))
