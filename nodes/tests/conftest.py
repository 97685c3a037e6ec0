"""Shared fixtures: a way to run one node, and a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from plait.node_runner.sdk import Node, RunContext

RunNode = Callable[..., Awaitable[Any]]


@pytest.fixture
def run_node() -> RunNode:
    """Run a node the way the engine does: validated params and inputs, then ``run``.

    ``run_node(Cls, params, inputs, **context)`` returns what ``run`` returned;
    ``context`` goes to ``RunContext``.
    """

    async def run(
        cls: type[Node],
        params: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
        **context: Any,
    ) -> Any:
        node = cls(cls.Params.model_validate(params or {}))
        return await node.run(cls.Inputs.model_validate(inputs or {}), RunContext(**context))

    return run


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class LocalServer:
    """A threaded HTTP server on 127.0.0.1 with the routes ``_Handler`` serves."""

    server: ThreadingHTTPServer
    requests: list[RecordedRequest] = field(default_factory=list)
    # Set at teardown so that /slow handlers stop waiting.
    release: threading.Event = field(default_factory=threading.Event)
    # /flaky: requests seen per key.
    flaky: dict[str, int] = field(default_factory=dict)

    @property
    def origin(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.origin + path


class _Handler(BaseHTTPRequestHandler):
    """Routes for http.request's tests.

    /json, /text, /echo (the request as JSON), /problem (application/problem+json),
    /bad-json, /empty (204), /status/<code> (a 5000-byte text body),
    /flaky?key=<k>&fail=<n>&status=<code> (fails n times per key, then 200),
    /redirect?to=<url>&status=<code>, /loop (redirects to itself), /slow (answers
    once the test ends), /big?size=<n> (with Content-Length), /stream?size=<n>
    (without: the body ends when the connection closes).
    """

    protocol_version = "HTTP/1.1"
    server: ThreadingHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _handle(self) -> None:
        state: LocalServer = self.server.state  # type: ignore[attr-defined]
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length)
        split = urlsplit(self.path)
        query = dict(parse_qsl(split.query))
        headers = {k.lower(): v for k, v in self.headers.items()}
        state.requests.append(RecordedRequest(self.command, split.path, headers, body))
        route = split.path
        if route == "/json":
            self._send(
                200,
                json.dumps({"hello": "world"}).encode(),
                "application/json",
                {"X-Custom": "Yes"},
            )
        elif route == "/text":
            self._send(200, "héllo".encode(), "text/plain; charset=utf-8")
        elif route == "/echo":
            echo = {
                "method": self.command,
                "path": split.path,
                "query": query,
                "headers": headers,
                "body": body.decode(),
            }
            self._send(200, json.dumps(echo).encode(), "application/json")
        elif route == "/problem":
            self._send(200, b'{"title": "ok"}', "application/problem+json")
        elif route == "/bad-json":
            self._send(200, b"{nope", "application/json")
        elif route == "/empty":
            self._send(204, b"", None)
        elif route.startswith("/status/"):
            self._send(int(route.removeprefix("/status/")), b"e" * 5000, "text/plain")
        elif route == "/redirect":
            status = int(query.get("status", "302"))
            self._send(status, b"", None, {"Location": query["to"]})
        elif route == "/flaky":
            # Fails `fail` times per `key` with `status`, then answers 200.
            key = query.get("key", "")
            seen = state.flaky[key] = state.flaky.get(key, 0) + 1
            if seen <= int(query.get("fail", "1")):
                self._send(int(query.get("status", "503")), b"try again", "text/plain")
            else:
                self._send(200, json.dumps({"attempt": seen}).encode(), "application/json")
        elif route == "/loop":
            self._send(302, b"", None, {"Location": "/loop"})
        elif route == "/slow":
            state.release.wait(10)
            self._send(200, b"late", "text/plain")
        elif route == "/big":
            self._send(200, b"b" * int(query["size"]), "text/plain")
        elif route == "/stream":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            for _ in range(int(query["size"]) // 1024):
                self.wfile.write(b"s" * 1024)
        else:
            self._send(404, b"no such route", "text/plain")

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str | None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Tests that cap or time out a response hang up on purpose.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _start() -> LocalServer:
    server = _Server(("127.0.0.1", 0), _Handler)
    state = LocalServer(server)
    server.state = state  # type: ignore[attr-defined]
    # A short poll interval keeps shutdown (once per test) quick.
    threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True).start()
    return state


def _stop(state: LocalServer) -> None:
    state.release.set()
    state.server.shutdown()
    state.server.server_close()


@pytest.fixture
def http_server() -> Iterator[LocalServer]:
    state = _start()
    yield state
    _stop(state)


@pytest.fixture
def other_server() -> Iterator[LocalServer]:
    """A second server: another origin, for cross-origin redirects."""
    state = _start()
    yield state
    _stop(state)
