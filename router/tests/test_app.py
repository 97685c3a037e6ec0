"""The ASGI app through httpx, with in-memory route sources and run starters.

``MemoryRouteSource`` and ``MemoryRunStarter`` are real implementations of the router's
protocols, kept in memory: a route's ``target`` is an async function standing in for a
flow — it gets the trigger payload and returns an ``http.respond`` answer, None (finished
without answering), or raises (the run failed).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from plait.router.app import RouterApp, RunOutcome, create_router_app
from plait.router.routes import (
    AuthConfig,
    CorsConfig,
    RateLimit,
    Route,
    RouteConfig,
    RouteTable,
)

Flow = Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]]
UUID = "0F8FAD5B-D9CB-469F-A165-70867728950E"
SECRET = "s3cret"


class MemoryRouteSource:
    """Route tables by (project, stage), held in a dict."""

    def __init__(self, tables: dict[tuple[str, str], RouteTable]) -> None:
        self.tables = tables

    async def table(self, project: str, stage: str) -> RouteTable | None:
        return self.tables.get((project, stage))


class MemoryRunStarter:
    """Runs a route's target flow as an asyncio task, like the embedded platform does."""

    def __init__(self) -> None:
        self.ids = itertools.count(1)
        self.calls: list[dict[str, Any]] = []
        self.runs: dict[str, asyncio.Task[dict[str, Any] | None]] = {}

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
        run_id = f"run-{next(self.ids)}"
        status_url = f"/api/runs/{run_id}"
        self.calls.append({"route": route, "payload": payload, "project": project, "stage": stage})
        task = asyncio.ensure_future(route.target(payload))
        self.runs[run_id] = task
        if not wait:
            return RunOutcome(run_id, "accepted", status_url=status_url)
        try:
            # shield: a timeout stops the waiting, not the run.
            response = await asyncio.wait_for(asyncio.shield(task), timeout_s)
        except TimeoutError:
            return RunOutcome(run_id, "timeout", status_url=status_url)
        except Exception as exc:
            error = {"type": type(exc).__name__, "message": str(exc), "traceback": "Traceback…"}
            return RunOutcome(run_id, "failed", error=error, status_url=status_url)
        if response is None:
            return RunOutcome(run_id, "succeeded", status_url=status_url)
        return RunOutcome(run_id, "responded", response=response, status_url=status_url)


async def echo(payload: dict[str, Any]) -> dict[str, Any]:
    return {"status": 200, "headers": {"X-Flow": "echo"}, "body": payload}


def answer(body: Any, status: int = 200, **headers: str) -> Flow:
    async def flow(payload: dict[str, Any]) -> dict[str, Any]:
        return {"status": status, "headers": headers, "body": body}

    return flow


async def silent(payload: dict[str, Any]) -> None:
    return None


async def broken(payload: dict[str, Any]) -> None:
    raise RuntimeError("boom in node transform")


async def slow(payload: dict[str, Any]) -> dict[str, Any]:
    await asyncio.sleep(0.3)
    return {"status": 200, "body": "late"}


def demo_routes() -> list[Route]:
    cors = CorsConfig(allow_origins=("https://app.example",), allow_headers=("content-type",))
    return [
        Route("GET", "/hello/me", target=answer({"me": True})),
        Route("GET", "/hello/{name}", target=echo),
        Route("POST", "/echo", target=echo),
        Route("GET", "/orders/{id:int}", target=echo),
        Route("GET", "/things/{id:uuid}", target=echo),
        Route("GET", "/files/{rest:path}", target=echo),
        Route("GET", "/text", target=answer("hi there")),
        Route("GET", "/html", target=answer("<b>x</b>", **{"Content-Type": "text/html"})),
        Route("GET", "/number", target=answer(42, status=201)),
        Route("GET", "/nothing", target=answer(None, status=204)),
        Route("GET", "/silent", target=silent),
        Route("GET", "/broken", target=broken),
        Route("GET", "/slow", RouteConfig(timeout_s=0.05), target=slow),
        Route("POST", "/jobs", RouteConfig(mode="async"), target=slow),
        Route("GET", "/limited", RouteConfig(rate_limit=RateLimit(2, 3600)), target=echo),
        Route(
            "POST",
            "/keyed",
            RouteConfig(auth=AuthConfig("api_key", keys=("k-1", "k-2"))),
            target=echo,
        ),
        Route(
            "POST",
            "/signed",
            RouteConfig(auth=AuthConfig("hmac", secret=SECRET, tolerance_s=60)),
            target=echo,
        ),
        Route("PUT", "/cors", RouteConfig(cors=cors), target=echo),
        Route("GET", "/open", RouteConfig(cors=CorsConfig()), target=answer({"ok": True})),
        Route(
            "GET",
            "/inject",
            target=answer("x", **{"X-Evil": "a\r\nSet-Cookie: pwned=1"}),
        ),
    ]


@pytest.fixture
def starter() -> MemoryRunStarter:
    return MemoryRunStarter()


@pytest.fixture
def app(starter: MemoryRunStarter) -> RouterApp:
    tables = {
        ("demo", "prod"): RouteTable(demo_routes()),
        ("my-cool-app", "dev"): RouteTable([Route("GET", "/hello/{name}", target=echo)]),
    }
    return create_router_app(
        MemoryRouteSource(tables), starter, base_domain="localhost", max_body_bytes=1024
    )


@pytest.fixture
async def client(app: RouterApp) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080") as c:
        yield c


def error_code(response: httpx.Response) -> str:
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body["error"]) == {"code", "message", "details"}
    assert "Traceback" not in response.text
    code: str = body["error"]["code"]
    return code


# --- table selection -------------------------------------------------------------------


async def test_host_form(client: httpx.AsyncClient, starter: MemoryRunStarter) -> None:
    r = await client.get("/hello/Ada", headers={"Host": "demo-prod.localhost:8080"})
    assert r.status_code == 200
    assert r.headers["x-flow"] == "echo"
    payload = r.json()
    assert payload["method"] == "GET" and payload["path"] == "/hello/Ada"
    assert payload["path_params"] == {"name": "Ada"}
    assert starter.calls[-1]["project"] == "demo" and starter.calls[-1]["stage"] == "prod"


async def test_path_form(client: httpx.AsyncClient) -> None:
    r = await client.get("/p/demo/prod/hello/Ada")
    assert r.status_code == 200
    assert r.json()["path"] == "/hello/Ada"
    assert (await client.get("/p/demo/prod/hello/me")).json() == {"me": True}


async def test_slug_with_dashes_splits_at_the_last_dash(
    client: httpx.AsyncClient, starter: MemoryRunStarter
) -> None:
    r = await client.get("/hello/x", headers={"Host": "My-Cool-App-dev.LOCALHOST"})
    assert r.status_code == 200
    assert (starter.calls[-1]["project"], starter.calls[-1]["stage"]) == ("my-cool-app", "dev")
    assert (await client.get("/p/my-cool-app/dev/hello/x")).status_code == 200


@pytest.mark.parametrize(
    ("host", "path"),
    [
        ("demo-staging.localhost", "/hello/x"),  # unknown stage
        ("nope-prod.localhost", "/hello/x"),  # unknown project
        ("demo-prod.localhost", "/unknown"),  # unknown path
        ("example.com", "/hello/x"),  # other host, no /p/ prefix
        ("example.com", "/p/demo"),  # path form without a stage
        ("example.com", "/p/demo/staging/hello/x"),
        ("localhost", "/"),
    ],
)
async def test_not_found(client: httpx.AsyncClient, host: str, path: str) -> None:
    r = await client.get(path, headers={"Host": host})
    assert r.status_code == 404
    assert error_code(r) == "not_found"


# --- matching and payload --------------------------------------------------------------


async def test_typed_params(client: httpx.AsyncClient) -> None:
    r = await client.get("/p/demo/prod/orders/42")
    assert r.json()["path_params"] == {"id": 42}
    assert (await client.get("/p/demo/prod/orders/4x")).status_code == 404
    r = await client.get(f"/p/demo/prod/things/{UUID}")
    assert r.json()["path_params"] == {"id": UUID.lower()}
    r = await client.get("/p/demo/prod/files/a/b%20c/d.txt")
    assert r.json()["path_params"] == {"rest": "a/b c/d.txt"}


async def test_query_headers_and_head(client: httpx.AsyncClient) -> None:
    r = await client.get("/p/demo/prod/hello/x?a=1&a=2&b=&c=%C3%A9", headers={"X-Custom": "Yes"})
    payload = r.json()
    assert payload["query"] == {"a": ["1", "2"], "b": "", "c": "é"}
    assert payload["headers"]["x-custom"] == "Yes"
    assert payload["body"] is None
    head = await client.head("/p/demo/prod/hello/x")
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) > 0


async def test_json_and_text_bodies(client: httpx.AsyncClient) -> None:
    r = await client.post("/p/demo/prod/echo", json={"a": [1, 2]})
    assert r.json()["body"] == {"a": [1, 2]}
    r = await client.post(
        "/p/demo/prod/echo",
        content=b'{"x": 1}',
        headers={"Content-Type": "application/vnd.api+json; charset=utf-8"},
    )
    assert r.json()["body"] == {"x": 1}
    r = await client.post(
        "/p/demo/prod/echo", content="plain é", headers={"Content-Type": "text/plain"}
    )
    assert r.json()["body"] == "plain é"
    r = await client.post(
        "/p/demo/prod/echo", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400 and error_code(r) == "invalid_json"


async def test_deeply_nested_json_is_a_400() -> None:
    tables = {("demo", "prod"): RouteTable([Route("POST", "/echo", target=echo)])}
    app = create_router_app(MemoryRouteSource(tables), MemoryRunStarter(), base_domain="t")
    deep = b"[" * 200_000 + b"]" * 200_000
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://h") as c:
        r = await c.post(
            "/p/demo/prod/echo", content=deep, headers={"Content-Type": "application/json"}
        )
    assert r.status_code == 400 and error_code(r) == "invalid_json"


# --- responses ---------------------------------------------------------------------------


async def test_response_encoding(client: httpx.AsyncClient) -> None:
    r = await client.get("/p/demo/prod/text")
    assert r.text == "hi there" and r.headers["content-type"].startswith("text/plain")
    r = await client.get("/p/demo/prod/html")
    assert r.text == "<b>x</b>" and r.headers["content-type"] == "text/html"
    r = await client.get("/p/demo/prod/number")
    assert r.status_code == 201 and r.content == b"42"
    assert r.headers["content-type"] == "application/json"
    r = await client.get("/p/demo/prod/nothing")
    assert r.status_code == 204 and r.content == b""


async def test_flow_without_respond_is_a_500(client: httpx.AsyncClient) -> None:
    r = await client.get("/p/demo/prod/silent")
    assert r.status_code == 500 and error_code(r) == "no_response"
    error = r.json()["error"]
    assert error["message"] == "flow ended without an http.respond node"
    assert error["details"]["run_id"].startswith("run-")


async def test_failed_run_names_the_run_and_hides_the_traceback(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get("/p/demo/prod/broken")
    assert r.status_code == 500 and error_code(r) == "run_failed"
    error = r.json()["error"]
    assert error["details"]["run_id"] in error["message"]
    assert "boom in node transform" in error["message"]
    assert "traceback" not in error["details"]["error"]


async def test_timeout_is_a_504_and_the_run_goes_on(
    client: httpx.AsyncClient, starter: MemoryRunStarter
) -> None:
    r = await client.get("/p/demo/prod/slow")
    assert r.status_code == 504 and error_code(r) == "timeout"
    run_id = r.json()["error"]["details"]["run_id"]
    assert await starter.runs[run_id] == {"status": 200, "body": "late"}


async def test_async_route_answers_202(
    client: httpx.AsyncClient, starter: MemoryRunStarter
) -> None:
    r = await client.post("/p/demo/prod/jobs", json={})
    assert r.status_code == 202
    body = r.json()
    assert body == {"run_id": "run-1", "status_url": "/api/runs/run-1"}
    assert r.headers["location"] == "/api/runs/run-1"
    await starter.runs["run-1"]


async def test_header_injection_from_a_flow_is_refused(client: httpx.AsyncClient) -> None:
    r = await client.get("/p/demo/prod/inject")
    assert r.status_code == 500 and error_code(r) == "invalid_response"
    assert "set-cookie" not in r.headers


# --- error statuses ------------------------------------------------------------------------


async def test_method_not_allowed(client: httpx.AsyncClient) -> None:
    r = await client.delete("/p/demo/prod/hello/x")
    assert r.status_code == 405 and error_code(r) == "method_not_allowed"
    assert r.headers["allow"] == "GET, HEAD"


async def test_body_over_the_limit(client: httpx.AsyncClient, starter: MemoryRunStarter) -> None:
    r = await client.post("/p/demo/prod/echo", content=b"x" * 1025)
    assert r.status_code == 413 and error_code(r) == "payload_too_large"

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b"y" * 300

    r = await client.post("/p/demo/prod/echo", content=chunks())
    assert r.status_code == 413
    assert (await client.post("/p/demo/prod/echo", content=b"x" * 1024)).status_code == 200
    assert len(starter.calls) == 1


async def test_rate_limit(client: httpx.AsyncClient) -> None:
    assert (await client.get("/p/demo/prod/limited")).status_code == 200
    assert (await client.get("/p/demo/prod/limited")).status_code == 200
    r = await client.get("/p/demo/prod/limited")
    assert r.status_code == 429 and error_code(r) == "rate_limited"
    assert int(r.headers["retry-after"]) >= 1


async def test_api_key(client: httpx.AsyncClient, starter: MemoryRunStarter) -> None:
    r = await client.post("/p/demo/prod/keyed", json={})
    assert r.status_code == 401 and error_code(r) == "unauthorized"
    r = await client.post("/p/demo/prod/keyed", json={}, headers={"X-Api-Key": "k-3"})
    assert r.status_code == 401
    r = await client.post("/p/demo/prod/keyed", json={}, headers={"X-Api-Key": "k-2"})
    assert r.status_code == 200
    assert "x-api-key" not in r.json()["headers"]  # never recorded in the run payload
    assert len(starter.calls) == 1


def signed(body: bytes, *, at: int | None = None, secret: str = SECRET) -> dict[str, str]:
    stamp = str(int(time.time()) if at is None else at)
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Plait-Timestamp": stamp, "X-Plait-Signature": f"sha256={digest}"}


async def test_hmac_signature(client: httpx.AsyncClient, starter: MemoryRunStarter) -> None:
    body = json.dumps({"event": "paid"}).encode()
    json_type = {"Content-Type": "application/json"}
    good = await client.post(
        "/p/demo/prod/signed", content=body, headers={**signed(body), **json_type}
    )
    assert good.status_code == 200 and good.json()["body"] == {"event": "paid"}
    cases = {
        "bad secret": signed(body, secret="wrong"),
        "stale": signed(body, at=int(time.time()) - 3600),
        "future": signed(body, at=int(time.time()) + 3600),
        "tampered": signed(body + b" "),
        "missing": {},
        "bad stamp": {**signed(body), "X-Plait-Timestamp": "yesterday"},
    }
    for name, headers in cases.items():
        r = await client.post("/p/demo/prod/signed", content=body, headers=headers)
        assert r.status_code == 401, name
        assert error_code(r) == "unauthorized"
    assert (
        "stale"
        in (await client.post("/p/demo/prod/signed", content=body, headers=cases["stale"])).json()[
            "error"
        ]["message"]
    )
    assert len(starter.calls) == 1


async def test_cors(client: httpx.AsyncClient, starter: MemoryRunStarter) -> None:
    preflight = {
        "Origin": "https://app.example",
        "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "content-type",
    }
    r = await client.options("/p/demo/prod/cors", headers=preflight)
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == "https://app.example"
    assert r.headers["access-control-allow-methods"] == "PUT"
    assert r.headers["access-control-allow-headers"] == "content-type"
    assert r.headers["vary"] == "Origin"
    denied = await client.options(
        "/p/demo/prod/cors", headers={**preflight, "Origin": "https://evil.example"}
    )
    assert denied.status_code == 403 and error_code(denied) == "cors_forbidden"
    r = await client.put("/p/demo/prod/cors", json={}, headers={"Origin": "https://app.example"})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "https://app.example"
    r = await client.get("/p/demo/prod/open", headers={"Origin": "https://any.example"})
    assert r.headers["access-control-allow-origin"] == "*"
    # No CORS on the route: a preflight is just an OPTIONS request, which has no route.
    r = await client.options("/p/demo/prod/echo", headers={**preflight, "Origin": "x"})
    assert r.status_code == 405 and "access-control-allow-origin" not in r.headers
    assert len(starter.calls) == 2  # the PUT and the GET; preflights start no run


# --- failures of the platform ----------------------------------------------------------


class FailingStarter:
    async def start(self, route: Route, payload: dict[str, Any], **kwargs: Any) -> RunOutcome:
        raise ConnectionError("queue down: redis://secret@host")


class FailingSource:
    async def table(self, project: str, stage: str) -> RouteTable | None:
        raise OSError("database down")


async def test_platform_failures_are_json_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    tables = {("demo", "prod"): RouteTable([Route("GET", "/x", target=echo)])}
    for app, status, code in (
        (create_router_app(MemoryRouteSource(tables), FailingStarter(), base_domain="t"), 502,
         "run_start_failed"),
        (create_router_app(FailingSource(), MemoryRunStarter(), base_domain="t"), 503,
         "routes_unavailable"),
    ):  # fmt: skip
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://h") as c:
            r = await c.get("/p/demo/prod/x")
        assert r.status_code == status and error_code(r) == code
        assert "secret" not in r.text and "down" not in r.text
    assert "queue down" in caplog.text and "database down" in caplog.text


# --- hostile input -----------------------------------------------------------------------


async def call(
    app: RouterApp, method: str, raw_path: bytes, headers: list[tuple[bytes, bytes]]
) -> tuple[int, dict[bytes, bytes], bytes]:
    """Call the app with a hand-made scope, for bytes no well-behaved client sends."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": method,
        "path": raw_path.decode("latin-1"),
        "raw_path": raw_path,
        "query_string": b"",
        "headers": headers,
    }
    await app(scope, receive, send)
    return sent[0]["status"], dict(sent[0]["headers"]), sent[1]["body"]


@pytest.mark.parametrize(
    "host",
    [
        b"demo-prod.localhost",
        b"",
        b"-prod.localhost",
        b"demo-.localhost",
        b"demo-prod.localhost.evil.com",
        b"a.demo-prod.localhost",
        b"demo-pr\xc3\xb6d.localhost",
        b"\xff\xfe\x00",
        b"[::1]:8080",
        b"demo-prod.localhost:notaport",
        b"x" * 10_000 + b"-prod.localhost",
        b"../../etc-prod.localhost",
        b"demo-prod.localhost\r\nX-Injected: 1",
    ],
)
async def test_hostile_hosts_never_5xx(app: RouterApp, host: bytes) -> None:
    status, headers, body = await call(app, "GET", b"/hello/x", [(b"host", host)])
    assert status in (200, 404)
    assert b"x-injected" not in headers
    json.loads(body)


@pytest.mark.parametrize(
    "path",
    [
        b"/p/demo/prod/hello/..",
        b"/p/demo/prod/files/../../etc/passwd",
        b"/p/demo/prod/files/%2e%2e/secret",
        b"/p/../demo/prod/hello/x",
        b"/p/demo/prod/hello/%00",
        b"/p/demo/prod/hello/%ff%fe",
        b"/p/demo/prod/hello/\xc3\xa9\xff",
        b"/p/demo/prod/hello/" + "日本語".encode(),
        b"/p/demo/prod/hello/" + b"a" * 100_000,
        b"/p/demo/prod//hello/x",
        b"/p/demo%2Fprod/hello/x",
        b"/p/%ff/prod/hello/x",
        b"//p/demo/prod",
        b"/p/demo/prod/files/" + b"a/" * 5000,
        b"relative",
        b"",
    ],
)
async def test_hostile_paths_never_5xx(app: RouterApp, path: bytes) -> None:
    status, _, body = await call(app, "GET", path, [(b"host", b"example.com")])
    assert status in (200, 400, 404, 405)
    json.loads(body)


async def test_unicode_path_params(client: httpx.AsyncClient) -> None:
    r = await client.get("/p/demo/prod/hello/日本語")
    assert r.json()["path_params"] == {"name": "日本語"}
    status, _, body = await call(
        client._transport.app,  # type: ignore[attr-defined]
        "GET",
        b"/p/demo/prod/hello/caf\xc3\xa9",
        [(b"host", b"h")],
    )
    assert status == 200 and json.loads(body)["path_params"] == {"name": "café"}


async def test_bad_content_length(app: RouterApp) -> None:
    headers = [(b"host", b"h"), (b"content-length", b"abc")]
    status, _, body = await call(app, "POST", b"/p/demo/prod/echo", headers)
    assert status == 400 and json.loads(body)["error"]["code"] == "bad_request"


async def test_lifespan(app: RouterApp) -> None:
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[str] = []

    async def receive() -> dict[str, Any]:
        return next(messages)

    async def send(message: Any) -> None:
        sent.append(message["type"])

    await app({"type": "lifespan"}, receive, send)
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
