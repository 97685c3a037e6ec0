"""The router on the platform (``plait.api.routing``): route tables from publications,
every request a recorded run, sync answers from ``http.respond``, invalidation on publish.

The router app and the platform's runtime share this test's event loop; requests go in
through httpx's ASGI transport. Waiting is on state (signals, run ends), never on time.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from clikit import edge, flow_doc, node
from runkit import add_secret, register_test_nodes

from plait.api import runtime
from plait.api.db.models import Run
from plait.api.platform import Platform
from plait.api.routing import (
    RouteCache,
    RouteEvents,
    create_platform_router,
    route_config,
    route_events,
)
from plait.api.runs.store import read_events
from plait.api.services import auth, flows, projects, publish
from plait.nodes.triggers import WebhookTrigger

SLUG = "shop"


def webhook(path: str, method: str = "GET", **params: Any) -> dict[str, Any]:
    return node("hook", "trigger.webhook", {"method": method, "path": path, **params})


def respond(body: Any, node_id: str = "reply", status: int = 200) -> dict[str, Any]:
    return node(node_id, "http.respond", {"status": status, "body": body})


def hello_flow(path: str = "/hello/{name}", greeting: str = "Hello", **params: Any) -> dict:
    return flow_doc(
        [webhook(path, **params), respond(greeting + " {{ inputs.input.name }}")],
        [edge("e1", "hook", "path_params", "reply", "input")],
        name=f"{greeting} flow",
    )


class Stage:
    """A project ``shop`` of workspace "alpha", its flows published through the service."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        with platform.db.session() as session:
            workspace = auth.get_or_create_workspace(session, "alpha")
            project = projects.create(session, workspace.id, name="Shop", slug=SLUG)
            self.workspace_id, self.project_id = workspace.id, project.id

    def publish(
        self, document: dict[str, Any], *, flow_id: str | None = None, stage: str = "prod"
    ) -> str:
        """Publish ``document`` (a new flow, or a new draft of ``flow_id``); the flow id."""
        platform = self.platform
        with platform.db.session() as session:
            doc = flows.canonical(document, platform.registry, max_bytes=1 << 20)
            if flow_id is None:
                project = projects.get(session, self.workspace_id, self.project_id)
                flow = flows.create(session, project, doc)
            else:
                flow = flows.get(session, self.workspace_id, flow_id)
                flow.document = doc
                session.flush()
            publish.publish(
                session,
                flow,
                stage,
                registry=platform.registry,
                blobs=platform.blobs,
                user_id=None,
                max_bytes=1 << 20,
            )
            flow_id = flow.id
        route_events(platform).invalidate(SLUG, stage)
        return flow_id

    def unpublish(self, flow_id: str, stage: str = "prod") -> None:
        with self.platform.db.session() as session:
            publish.unpublish(session, flows.get(session, self.workspace_id, flow_id), stage)
        route_events(self.platform).invalidate(SLUG, stage)

    def secret(self, flow_id: str, name: str, value: str) -> None:
        add_secret(self.platform, flow_id, name, value)

    def run(self, run_id: str) -> Run:
        with self.platform.db.sessions() as session:
            run = session.get(Run, run_id)
            assert run is not None
            return run

    def events(self, run_id: str) -> list[Any]:
        with self.platform.db.engine.connect() as connection:
            return read_events(connection, run_id)


@pytest.fixture
async def router(platform: Platform) -> AsyncIterator[tuple[httpx.AsyncClient, Stage]]:
    """The router app on a started platform, and the stage to publish on."""
    register_test_nodes(platform)
    app = create_platform_router(platform, lifespan=False)
    await runtime.start(platform)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://shop-prod.localhost"
        ) as client:
            yield client, Stage(platform)
    finally:
        await runtime.stop(platform, grace_s=0)


async def finished(platform: Platform, run_id: str) -> None:
    """Wait (bounded) until the dispatcher is done with a run."""
    assert await platform.dispatcher.wait(run_id, timeout_s=30)


# -- answering ------------------------------------------------------------------------------


async def test_a_sync_route_answers_and_the_request_is_a_recorded_run(router):
    client, stage = router
    flow_id = stage.publish(hello_flow())

    response = await client.get("/hello/Ada?x=1", headers={"X-Trace": "t1"})

    assert (response.status_code, response.text) == (200, "Hello Ada")
    run_id = _only_run(stage, flow_id)
    await finished(stage.platform, run_id)
    run = stage.run(run_id)
    assert (run.trigger, run.trigger_node, run.stage, run.status) == (
        "webhook",
        "hook",
        "prod",
        "succeeded",
    )
    assert run.version_id is not None
    assert run.input["path_params"] == {"name": "Ada"}
    assert run.input["query"] == {"x": "1"}
    assert run.input["headers"]["x-trace"] == "t1"
    kinds = [(e.type, e.node_id) for e in stage.events(run_id)]
    assert ("node.succeeded", "hook") in kinds
    assert ("node.succeeded", "reply") in kinds
    assert kinds[-1] == ("run.succeeded", None)


def _only_run(stage: Stage, flow_id: str) -> str:
    with stage.platform.db.sessions() as session:
        ids = [r.id for r in session.query(Run).filter_by(flow_id=flow_id)]
    assert len(ids) == 1, ids
    return ids[0]


async def test_the_path_form_reaches_the_same_table(router):
    client, stage = router
    stage.publish(hello_flow())

    response = await client.get("http://127.0.0.1/p/shop/prod/hello/Bob")

    assert (response.status_code, response.text) == (200, "Hello Bob")


async def test_the_first_respond_answers_while_the_run_goes_on(router):
    client, stage = router
    document = flow_doc(
        [webhook("/later"), respond({"ok": True}), node("wait", "test.wait_signal")],
        [
            edge("e1", "hook", "query", "reply", "input"),
            edge("e2", "reply", "response", "wait", "input"),
        ],
    )
    flow_id = stage.publish(document)

    response = await client.get("/later")

    assert (response.status_code, response.json()) == (200, {"ok": True})
    run_id = _only_run(stage, flow_id)
    assert stage.run(run_id).status == "running"  # it answered before its end
    assert await stage.platform.dispatcher.signal(run_id, "go", None)
    await finished(stage.platform, run_id)
    assert stage.run(run_id).status == "succeeded"


async def test_a_flow_that_ends_without_respond_is_a_clear_500(router):
    client, stage = router
    document = flow_doc(
        [webhook("/quiet"), node("set", "data.set", {"values": {"a": 1}})],
        [edge("e1", "hook", "query", "set", "input")],
    )
    flow_id = stage.publish(document)

    response = await client.get("/quiet")

    assert response.status_code == 500
    assert response.json()["error"]["code"] == "no_response"
    assert stage.run(_only_run(stage, flow_id)).status == "succeeded"


async def test_a_failed_run_is_a_500_naming_the_run(router):
    client, stage = router
    document = flow_doc(
        [webhook("/boom"), node("fail", "test.fail"), respond("never")],
        [
            edge("e1", "hook", "query", "fail", "input"),
            edge("e2", "fail", "output", "reply", "input"),
        ],
    )
    flow_id = stage.publish(document)

    response = await client.get("/boom")

    assert response.status_code == 500
    error = response.json()["error"]
    assert error["code"] == "run_failed"
    run_id = _only_run(stage, flow_id)
    assert error["details"]["run_id"] == run_id
    await finished(stage.platform, run_id)
    assert stage.run(run_id).status == "failed"


async def test_over_its_timeout_a_sync_route_answers_504_and_the_run_goes_on(router):
    client, stage = router
    document = flow_doc(
        [webhook("/slow", timeout_s=0.2), node("wait", "test.wait_signal"), respond("late")],
        [
            edge("e1", "hook", "query", "wait", "input"),
            edge("e2", "wait", "payload", "reply", "input"),
        ],
    )
    flow_id = stage.publish(document)

    response = await client.get("/slow")

    assert response.status_code == 504
    run_id = _only_run(stage, flow_id)
    assert response.json()["error"]["details"]["run_id"] == run_id
    assert await stage.platform.dispatcher.signal(run_id, "go", None)
    await finished(stage.platform, run_id)
    assert stage.run(run_id).status == "succeeded"  # recorded, to its end


async def test_an_async_route_answers_202_with_the_run(router):
    client, stage = router
    document = flow_doc(
        [webhook("/jobs", "POST", mode="async"), node("set", "data.set", {"include_input": True})],
        [edge("e1", "hook", "body", "set", "input")],
    )
    stage.publish(document)

    response = await client.post("/jobs", json={"n": 1})

    assert response.status_code == 202
    body = response.json()
    assert body["status_url"].endswith(f"/api/runs/{body['run_id']}")
    await finished(stage.platform, body["run_id"])
    run = stage.run(body["run_id"])
    assert (run.status, run.input["body"]) == ("succeeded", {"n": 1})


# -- auth --------------------------------------------------------------------------------------


def keyed_flow() -> dict[str, Any]:
    auth_params = {"kind": "api_key", "header": "X-API-Key", "secret": "HOOK_KEY"}
    return hello_flow("/keyed/{name}", auth=auth_params)


async def test_api_key_routes_open_the_project_secret(router):
    client, stage = router
    flow_id = stage.publish(keyed_flow())
    stage.secret(flow_id, "HOOK_KEY", "k-123")
    stage.publish(keyed_flow(), flow_id=flow_id)  # the secret is read with the table

    good = await client.get("/keyed/Ada", headers={"X-API-Key": "k-123"})
    bad = await client.get("/keyed/Ada", headers={"X-API-Key": "nope"})
    none = await client.get("/keyed/Ada")

    assert (good.status_code, good.text) == (200, "Hello Ada")
    assert (bad.status_code, none.status_code) == (401, 401)
    run = stage.run(_only_run(stage, flow_id))
    assert "x-api-key" not in run.input["headers"]  # the key is never recorded


async def test_a_route_whose_secret_is_missing_refuses_every_request(router):
    client, stage = router
    stage.publish(keyed_flow())

    response = await client.get("/keyed/Ada", headers={"X-API-Key": ""})

    assert response.status_code == 401


def sign(secret: str, stamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()


async def test_hmac_routes_check_signature_and_timestamp(router):
    client, stage = router
    auth_params = {"kind": "hmac", "secret": "SIGNING", "tolerance_s": 60}
    document = hello_flow("/signed/{name}", method="POST", auth=auth_params)
    flow_id = stage.publish(document)
    stage.secret(flow_id, "SIGNING", "s3cret")
    stage.publish(document, flow_id=flow_id)
    body = b'{"event": "paid"}'
    now = str(int(time.time()))
    stale = str(int(time.time()) - 3600)

    async def post(signature: str, stamp: str) -> int:
        headers = {"X-Signature": signature, "X-Timestamp": stamp}
        headers["Content-Type"] = "application/json"
        return (await client.post("/signed/Ada", content=body, headers=headers)).status_code

    assert await post("sha256=" + sign("s3cret", now, body), now) == 200
    assert await post(sign("wrong", now, body), now) == 401
    assert await post(sign("s3cret", now, body + b" "), now) == 401
    assert await post(sign("s3cret", stale, body), stale) == 401


def test_route_config_maps_every_setting():
    params = WebhookTrigger.Params.model_validate(
        {
            "path": "/x",
            "mode": "async",
            "timeout_s": 5,
            "auth": {"kind": "hmac", "secret": "S", "header": "X-Sig", "tolerance_s": 9},
            "cors": {"allow_origins": ["https://a.example"], "allow_credentials": True},
            "rate_limit": {"requests": 3, "per_s": 2},
        }
    )

    class Secrets:
        def get(self, name: str) -> str | None:
            return {"S": "value"}.get(name)

    config = route_config(params, Secrets(), "test")  # type: ignore[arg-type]

    assert (config.mode, config.timeout_s) == ("async", 5.0)
    assert config.auth is not None
    assert (config.auth.kind, config.auth.header, config.auth.secret) == ("hmac", "x-sig", "value")
    assert (config.auth.timestamp_header, config.auth.tolerance_s) == ("x-timestamp", 9.0)
    assert config.cors is not None
    assert config.cors.allow_origins == ("https://a.example",)
    assert config.cors.allow_credentials is True
    assert config.rate_limit is not None
    assert (config.rate_limit.requests, config.rate_limit.per_s) == (3, 2.0)


async def test_rate_limited_routes_answer_429(router):
    client, stage = router
    stage.publish(hello_flow(rate_limit={"requests": 1, "per_s": 3600}))

    first = await client.get("/hello/Ada")
    second = await client.get("/hello/Ada")

    assert (first.status_code, second.status_code) == (200, 429)


# -- tables and their invalidation ------------------------------------------------------------


async def test_a_publish_replaces_the_cached_table_and_unpublish_removes_it(router):
    client, stage = router
    missing = await client.get("/hello/Ada")
    flow_id = stage.publish(hello_flow())
    first = await client.get("/hello/Ada")
    stage.publish(hello_flow(greeting="Bonjour"), flow_id=flow_id)
    second = await client.get("/hello/Ada")
    stage.unpublish(flow_id)
    gone = await client.get("/hello/Ada")

    assert missing.status_code == 404
    assert (first.text, second.text) == ("Hello Ada", "Bonjour Ada")
    assert gone.status_code == 404


async def test_a_table_is_built_once_for_many_requests(router, platform):
    _, stage = router
    stage.publish(hello_flow())
    app = create_platform_router(platform, lifespan=False)
    source = _source_of(app)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://shop-prod.localhost") as c:
        for name in ("a", "b", "c"):
            assert (await c.get(f"/hello/{name}")).status_code == 200

    assert source.builds == 1


def _source_of(app: Any) -> Any:
    return app.source


async def test_other_stages_and_projects_are_404(router):
    client, stage = router
    stage.publish(hello_flow())

    dev = await client.get("http://shop-dev.localhost/hello/Ada")
    other = await client.get("http://nope-prod.localhost/hello/Ada")
    path = await client.get("/nope/Ada")

    assert (dev.status_code, other.status_code, path.status_code) == (404, 404, 404)


def test_a_build_that_raced_an_invalidation_is_not_kept():
    cache = RouteCache()
    key = ("shop", "prod")
    generation = cache.generation(key)
    cache.invalidate(key)  # a publish lands while the table is being built

    assert cache.put(key, None, generation) is False
    assert cache.get(key) is None
    assert cache.put(key, None, cache.generation(key)) is True


def test_invalidation_reaches_every_attached_cache():
    events = RouteEvents()
    caches = [RouteCache(), RouteCache()]
    for cache in caches:
        events.attach(cache)
        cache.put(("shop", "prod"), None, cache.generation(("shop", "prod")))

    events.invalidate("shop", "prod")

    assert [c.get(("shop", "prod")) for c in caches] == [None, None]
