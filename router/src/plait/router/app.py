"""The router's ASGI app: a request in, a run started, the run's answer out.

A plain ASGI callable with no framework under it: this is the hot path benchmarked
against Node-RED, so everything that can be decided when a table is built is (the trie,
the CORS headers), and a request costs a table lookup, a trie search and the run.

Order of checks for a request: table (host or path form) -> route (404/405) -> CORS
preflight -> rate limit (429) -> API key (401) -> body (413) -> HMAC (401) -> body parsing
(400) -> run. Every error is JSON ``{"error": {"code", "message", "details"}}``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol
from urllib.parse import parse_qsl, quote_from_bytes, unquote

from plait.router.routes import (
    AuthConfig,
    CorsConfig,
    MethodNotAllowed,
    RateLimit,
    Route,
    RouteTable,
)

__all__ = [
    "ASGIApp",
    "RouteSource",
    "RouterApp",
    "RunOutcome",
    "RunStarter",
    "create_router_app",
]

logger = logging.getLogger("plait.router")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024

_PROJECT = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}", re.IGNORECASE)
_STAGE = re.compile(r"[a-z0-9_]{1,63}", re.IGNORECASE)
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an RFC 9110 header name
_BAD_VALUE = re.compile(r"[\r\n\x00]")
# Headers the router computes itself; a flow's values for them are ignored.
_HOP_BY_HOP = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})
# Printable ASCII stays as sent when a raw path has to be re-encoded.
_PATH_SAFE = bytes(range(0x21, 0x7F)).decode()
_JSON_TYPE = (b"content-type", b"application/json")
_FAILED = frozenset({"failed", "crashed", "error", "errored"})


class RouteSource(Protocol):
    """Where route tables come from; the platform implements it (and caches)."""

    async def table(self, project: str, stage: str) -> RouteTable | None:
        """The table published on a project stage; None when there is no such stage."""
        ...


@dataclass
class RunOutcome:
    """What became of a started run.

    Attributes:
        run_id: the run's id.
        status: ``responded`` (an ``http.respond`` node answered), a terminal run status
            when it finished without answering (``succeeded``, ``failed``, ...),
            ``accepted`` (async: queued, not awaited) or ``timeout`` (still running).
        response: ``{"status", "headers", "body"}`` from ``http.respond``.
        error: the run's error (``message``, ``type``, ``node_id``) when it failed.
        status_url: where a client can follow the run.
    """

    run_id: str
    status: str
    response: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    status_url: str | None = None


class RunStarter(Protocol):
    """How a run is started (and, for sync routes, awaited); the platform implements it."""

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
        """Start a run of ``route.target`` with ``payload`` as its trigger output.

        With ``wait``, return when the flow responds or finishes, or with status
        ``timeout`` after ``timeout_s`` — leaving the run going. Without it, return
        ``accepted`` as soon as the run is recorded.
        """
        ...


class _HTTPError(Exception):
    """An error answer, raised inside the request handling and sent by ``__call__``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}
        self.headers = headers or []


def _error_body(code: str, message: str, details: dict[str, Any]) -> bytes:
    return json.dumps({"error": {"code": code, "message": message, "details": details}}).encode()


class _TokenBucket:
    __slots__ = ("capacity", "limit", "rate", "stamp", "tokens")

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self.capacity = float(limit.requests)
        self.rate = limit.requests / limit.per_s  # tokens per second
        self.tokens = self.capacity
        self.stamp = time.monotonic()

    def take(self) -> float:
        """Take a token; 0 when granted, else the seconds until one is available."""
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


@lru_cache(maxsize=1024)
def _preflight_headers(cors: CorsConfig, route_method: str) -> tuple[tuple[bytes, bytes], ...]:
    methods = cors.allow_methods or (
        (route_method, "HEAD") if route_method == "GET" else (route_method,)
    )
    headers = [
        (b"access-control-allow-methods", ", ".join(methods).encode()),
        (b"access-control-max-age", str(int(cors.max_age_s)).encode()),
    ]
    if cors.allow_headers:
        headers.append((b"access-control-allow-headers", ", ".join(cors.allow_headers).encode()))
    return tuple(headers)


def _cors_headers(cors: CorsConfig, origin: str | None) -> list[tuple[bytes, bytes]] | None:
    """The ``Access-Control-Allow-*`` headers for an allowed origin; None if refused."""
    if origin is None:
        return []
    if "*" in cors.allow_origins and not cors.allow_credentials:
        return [(b"access-control-allow-origin", b"*")]
    if "*" not in cors.allow_origins and origin not in cors.allow_origins:
        return None
    # Credentials forbid "*": echo the origin, and tell caches the answer varies by it.
    headers = [(b"access-control-allow-origin", origin.encode("latin-1")), (b"vary", b"Origin")]
    if cors.allow_credentials:
        headers.append((b"access-control-allow-credentials", b"true"))
    return headers


def _check_api_key(auth: AuthConfig, headers: dict[str, str]) -> None:
    given = headers.get(auth.header)
    if given is None:
        raise _HTTPError(401, "unauthorized", f"missing API key header {auth.header!r}")
    given_b = given.encode("latin-1")
    ok = False
    for key in auth.keys:  # every key is compared, in constant time
        ok |= hmac.compare_digest(given_b, key.encode())
    if not ok:
        raise _HTTPError(401, "unauthorized", "invalid API key")


def _check_hmac(auth: AuthConfig, headers: dict[str, str], body: bytes) -> None:
    signature = headers.get(auth.header)
    stamp = headers.get(auth.timestamp_header)
    if signature is None or stamp is None:
        raise _HTTPError(
            401,
            "unauthorized",
            f"missing signature: send headers {auth.header!r} and {auth.timestamp_header!r}",
        )
    try:
        sent_at = int(stamp.strip())
    except ValueError:
        raise _HTTPError(
            401, "unauthorized", "the signature timestamp is not Unix seconds"
        ) from None
    if abs(time.time() - sent_at) > auth.tolerance_s:
        raise _HTTPError(
            401,
            "unauthorized",
            f"stale signature timestamp (tolerance {auth.tolerance_s:g}s)",
        )
    signature = signature.strip().lower().removeprefix("sha256=")
    if not auth.secret:
        raise _HTTPError(401, "unauthorized", "invalid signature")
    expected = hmac.new(auth.secret.encode(), stamp.strip().encode() + b"." + body, hashlib.sha256)
    if not hmac.compare_digest(signature.encode("latin-1"), expected.hexdigest().encode()):
        raise _HTTPError(401, "unauthorized", "invalid signature")


def _parse_body(body: bytes, content_type: str | None) -> Any:
    """JSON when the content type says so, else text (invalid UTF-8 replaced); None if empty."""
    if not body:
        return None
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        try:
            return json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise _HTTPError(
                400, "invalid_json", f"the request body is not valid JSON: {exc}"
            ) from None
    return body.decode("utf-8", errors="replace")


def _parse_query(query_string: bytes) -> dict[str, Any]:
    query: dict[str, Any] = {}
    for key, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if key in query:
            prior = query[key]
            if isinstance(prior, list):
                prior.append(value)
            else:
                query[key] = [prior, value]
        else:
            query[key] = value
    return query


def _encode_response(response: dict[str, Any]) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """An ``http.respond`` answer as an ASGI status, headers and body.

    Raises:
        _HTTPError: 500 ``invalid_response`` for a bad status, an unsafe header (CR, LF or
            NUL — header injection) or a body that cannot be encoded.
    """
    status = response.get("status", 200)
    if not isinstance(status, int) or isinstance(status, bool) or not 200 <= status <= 599:
        raise _HTTPError(500, "invalid_response", f"http.respond status {status!r} is not 200-599")
    headers: list[tuple[bytes, bytes]] = []
    has_type = False
    raw_headers = response.get("headers") or {}
    if not isinstance(raw_headers, dict):
        raise _HTTPError(500, "invalid_response", "http.respond headers must be an object")
    for name, value in raw_headers.items():
        name, value = str(name), str(value)
        if not _TOKEN.fullmatch(name) or _BAD_VALUE.search(value):
            raise _HTTPError(
                500, "invalid_response", f"http.respond header {name[:64]!r} is not a safe header"
            )
        lower = name.lower()
        if lower in _HOP_BY_HOP:
            continue
        has_type = has_type or lower == "content-type"
        try:
            headers.append((lower.encode("latin-1"), value.encode("latin-1")))
        except UnicodeEncodeError:
            raise _HTTPError(
                500, "invalid_response", f"http.respond header {name!r} is not Latin-1"
            ) from None
    body = response.get("body")
    if status in (204, 304):
        return status, headers, b""
    if isinstance(body, str):
        data = body.encode()
        if not has_type:
            headers.append((b"content-type", b"text/plain; charset=utf-8"))
    elif isinstance(body, bytes | bytearray):
        data = bytes(body)
        if not has_type:
            headers.append((b"content-type", b"application/octet-stream"))
    else:
        try:
            data = json.dumps(
                body, ensure_ascii=False, allow_nan=False, separators=(",", ":")
            ).encode()
        except (TypeError, ValueError) as exc:
            raise _HTTPError(
                500, "invalid_response", f"http.respond body is not JSON-encodable: {exc}"
            ) from None
        if not has_type:
            headers.append(_JSON_TYPE)
    return status, headers, data


def _split_host(host: str) -> str:
    """The host name without its port, lower-case (IPv6 literals keep their brackets)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if ":" in host else host


class RouterApp:
    """The ASGI data plane; build it with :func:`create_router_app`."""

    def __init__(
        self,
        source: RouteSource,
        starter: RunStarter,
        *,
        base_domain: str,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        self.source = source
        self.starter = starter
        self.base_suffix = "." + _split_host(base_domain).strip(".")
        self.max_body_bytes = max_body_bytes
        # Keyed by what names a route across republishes, so a reloaded table keeps its budget.
        self._buckets: dict[tuple[str, str, str, str], _TokenBucket] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1008})

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        extra: list[tuple[bytes, bytes]] = []  # CORS headers, once the route is known
        head = scope["method"] == "HEAD"
        try:
            status, headers, body = await self._handle(scope, receive, extra)
        except _HTTPError as err:
            status, headers = err.status, [_JSON_TYPE, *err.headers]
            body = _error_body(err.code, err.message, err.details)
        except Exception:  # the last boundary: never a traceback to the client
            logger.exception("router: unexpected error on %s %s", scope["method"], scope["path"])
            status, headers = 500, [_JSON_TYPE]
            body = _error_body("internal_error", "the router failed to handle the request", {})
        headers.extend(extra)
        if status not in (204, 304):
            headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if head else body})

    def _locate(self, host: str | None, path: str) -> tuple[str, str, str]:
        """The (project, stage, route path) a request addresses, from its host or path."""
        if host:
            name = _split_host(host)
            if name.endswith(self.base_suffix):
                label = name[: -len(self.base_suffix)]
                project, _, stage = label.rpartition("-")
                if _PROJECT.fullmatch(project) and _STAGE.fullmatch(stage):
                    return project, stage, path
        # Any other host (or a label that cannot name a project stage): /p/{project}/{stage}/…
        if path.startswith("/p/"):
            parts = path[3:].split("/", 2)
            if len(parts) >= 2:
                project, stage = unquote(parts[0]), unquote(parts[1])
                if _PROJECT.fullmatch(project) and _STAGE.fullmatch(stage):
                    return project, stage, "/" + parts[2] if len(parts) == 3 else "/"
        raise _HTTPError(
            404,
            "not_found",
            "no project stage here: use the host {project}-{stage}.<base domain> "
            "or the path /p/{project}/{stage}/…",
        )

    async def _handle(
        self, scope: Scope, receive: Receive, extra: list[tuple[bytes, bytes]]
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        method: str = scope["method"]
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value

        raw_path: bytes | None = scope.get("raw_path")
        if raw_path is None:
            path = quote_from_bytes(scope["path"].encode(), safe="/")
        else:
            raw_path = raw_path.partition(b"?")[0]
            try:
                path = raw_path.decode("ascii")
            except UnicodeDecodeError:  # a client sent raw non-ASCII bytes: escape them
                path = quote_from_bytes(raw_path, safe=_PATH_SAFE)
        project, stage, route_path = self._locate(headers.get("host"), path)

        try:
            table = await self.source.table(project, stage)
        except Exception:
            logger.exception("router: route source failed for %s/%s", project, stage)
            raise _HTTPError(
                503, "routes_unavailable", "the route table could not be loaded"
            ) from None
        if table is None:
            raise _HTTPError(
                404, "not_found", f"no published stage {stage!r} in project {project!r}"
            )

        origin = headers.get("origin")
        preflight = method == "OPTIONS" and "access-control-request-method" in headers
        wanted = headers["access-control-request-method"].strip() if preflight else method
        try:
            match = table.resolve(wanted, route_path)
        except MethodNotAllowed as exc:
            if not preflight:
                raise _HTTPError(
                    405,
                    "method_not_allowed",
                    f"{method} is not allowed here; allowed: {', '.join(exc.allowed)}",
                    {"allowed": list(exc.allowed)},
                    [(b"allow", ", ".join(exc.allowed).encode())],
                ) from None
            match = None
        if preflight and (match is None or match.route.config.cors is None):
            # Not a preflight for a CORS route: route the OPTIONS request like any other.
            preflight = False
            try:
                match = table.resolve(method, route_path)
            except MethodNotAllowed as exc:
                raise _HTTPError(
                    405,
                    "method_not_allowed",
                    f"{method} is not allowed here; allowed: {', '.join(exc.allowed)}",
                    {"allowed": list(exc.allowed)},
                    [(b"allow", ", ".join(exc.allowed).encode())],
                ) from None
        if match is None:
            raise _HTTPError(404, "not_found", f"no route for {method} {unquote(route_path)}")
        route = match.route
        config = route.config

        if config.cors is not None:
            allowed = _cors_headers(config.cors, origin)
            if allowed is None:
                if preflight:
                    raise _HTTPError(403, "cors_forbidden", f"origin {origin!r} is not allowed")
            else:
                extra.extend(allowed)
            if preflight:
                return 204, list(_preflight_headers(config.cors, route.method)), b""

        if config.rate_limit is not None:
            key = (project, stage, route.method, route.path)
            bucket = self._buckets.get(key)
            if bucket is None or bucket.limit != config.rate_limit:
                bucket = self._buckets[key] = _TokenBucket(config.rate_limit)
            wait_s = bucket.take()
            if wait_s:
                retry = max(1, math.ceil(wait_s))
                raise _HTTPError(
                    429,
                    "rate_limited",
                    f"over this route's rate limit; retry in {retry}s",
                    {"retry_after_s": retry},
                    [(b"retry-after", str(retry).encode())],
                )

        auth = config.auth
        if auth is not None and auth.kind == "api_key":
            _check_api_key(auth, headers)
        body = await self._read_body(receive, headers.get("content-length"))
        if auth is not None and auth.kind == "hmac":
            _check_hmac(auth, headers, body)
        if auth is not None and auth.kind == "api_key":
            headers.pop(auth.header, None)  # a run payload is recorded; the key must not be

        payload = {
            "method": method,
            "path": unquote(route_path),
            "path_params": match.params,
            "query": _parse_query(scope["query_string"]) if scope.get("query_string") else {},
            "headers": headers,
            "body": _parse_body(body, headers.get("content-type")),
        }
        sync = config.mode == "sync"
        try:
            outcome = await self.starter.start(
                route, payload, project=project, stage=stage, wait=sync, timeout_s=config.timeout_s
            )
        except Exception:
            logger.exception("router: starting a run failed for %s on %s/%s", route, project, stage)
            raise _HTTPError(502, "run_start_failed", "the run could not be started") from None
        return self._answer(outcome, sync, config.timeout_s)

    async def _read_body(self, receive: Receive, content_length: str | None) -> bytes:
        limit = self.max_body_bytes
        if content_length is not None:
            try:
                declared = int(content_length)
            except ValueError:
                raise _HTTPError(400, "bad_request", "invalid Content-Length") from None
            if declared > limit:
                raise self._too_large()
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _HTTPError(400, "client_disconnected", "the client went away")
            chunk: bytes = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > limit:  # chunked bodies have no Content-Length to trust
                    raise self._too_large()
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _too_large(self) -> _HTTPError:
        return _HTTPError(
            413,
            "payload_too_large",
            f"the request body is over the {self.max_body_bytes} byte limit",
            {"max_body_bytes": self.max_body_bytes},
        )

    @staticmethod
    def _answer(
        outcome: RunOutcome, sync: bool, timeout_s: float
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        run = {"run_id": outcome.run_id, "status_url": outcome.status_url}
        if not sync:
            headers = [_JSON_TYPE]
            if outcome.status_url:
                headers.append((b"location", outcome.status_url.encode("latin-1", "replace")))
            return 202, headers, json.dumps(run).encode()
        if outcome.status == "responded" and outcome.response is not None:
            try:
                return _encode_response(outcome.response)
            except _HTTPError as err:
                err.details.update(run)
                raise
        if outcome.status == "timeout":
            raise _HTTPError(
                504,
                "timeout",
                f"the flow did not answer within {timeout_s:g}s; run {outcome.run_id} goes on",
                run,
            )
        if outcome.status in _FAILED or outcome.error is not None:
            error = outcome.error or {}
            message = str(error.get("message") or "the run failed")
            safe = {k: error[k] for k in ("type", "message", "node_id") if k in error}
            raise _HTTPError(
                500,
                "run_failed",
                f"run {outcome.run_id} failed: {message}",
                {**run, "run_status": outcome.status, "error": safe},
            )
        raise _HTTPError(
            500,
            "no_response",
            "flow ended without an http.respond node",
            {**run, "run_status": outcome.status},
        )


def create_router_app(
    source: RouteSource,
    starter: RunStarter,
    *,
    base_domain: str,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> RouterApp:
    """Build the router's ASGI app.

    Args:
        source: gives the route table of a project stage.
        starter: starts runs and, for sync routes, awaits their answer.
        base_domain: hosts ``{project}-{stage}.{base_domain}`` pick a table; other hosts
            use the path form ``/p/{project}/{stage}/…``.
        max_body_bytes: larger request bodies get 413.
    """
    return RouterApp(source, starter, base_domain=base_domain, max_body_bytes=max_body_bytes)
