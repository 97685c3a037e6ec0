"""Route patterns and the route table of one project stage (ARCHITECTURE.md §6).

A pattern is a path whose segments are static text or whole-segment variables:
``{name}`` (one non-empty segment, a ``str``), ``{name:int}``, ``{name:uuid}`` and
``{name:path}`` (the non-empty rest of the path, last segment only).

Matching ranks routes segment by segment — static text over a typed variable (``int``,
``uuid``) over an untyped one over ``path`` — and the best-ranked route wins, so
``/hello/me`` and ``/hello/{name}`` live side by side and the answer never depends on the
order the routes were added. Two routes *conflict* when they share a method and, at every
segment, the same rank class (equal static text, or variables of the same type): nothing
could order them, so the table refuses the second.

Request paths are matched as sent (percent-encoded): the path is split on ``/`` first and
each segment decoded after, so ``%2F`` never splits a segment. A trailing slash is a path
of its own (``/a/`` is not ``/a``), and a path with a ``.`` or ``..`` segment matches
nothing. ``HEAD`` follows ``GET``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote

__all__ = [
    "METHODS",
    "AuthConfig",
    "CorsConfig",
    "Match",
    "MethodNotAllowed",
    "Pattern",
    "PatternError",
    "RateLimit",
    "Route",
    "RouteConfig",
    "RouteConflict",
    "RouteTable",
    "Segment",
    "parse_pattern",
]

METHODS: frozenset[str] = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
"""The methods a route may declare; ``HEAD`` requests follow ``GET`` routes."""

SegmentKind = Literal["static", "int", "uuid", "str", "path"]

# Lower is preferred. int and uuid share a rank: their matches are disjoint (a uuid must
# have its hyphens, so it is never all digits), so they never compete for one segment.
_RANK: dict[str, int] = {"static": 0, "int": 1, "uuid": 1, "str": 2, "path": 3}
_VAR = re.compile(r"\{([^{}:]*)(?::([^{}]*))?\}")
_INT = re.compile(r"-?[0-9]{1,18}")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_DOT_SEGMENTS = frozenset({".", ".."})
_FORBIDDEN_STATIC = re.compile(r"[{}?#\x00-\x1f\x7f]")


class PatternError(ValueError):
    """A path pattern that cannot be used as a route; the message says why."""


@dataclass(frozen=True, slots=True)
class Segment:
    """One segment of a pattern: static ``text``, or a variable ``name`` of a type.

    Attributes:
        kind: ``static`` or the variable's type (``str`` for an untyped ``{name}``).
        value: the static text, or the variable's name.
    """

    kind: SegmentKind
    value: str

    @property
    def rank(self) -> int:
        """0 static, 1 typed (int/uuid), 2 untyped, 3 path — lower wins."""
        return _RANK[self.kind]

    @property
    def rank_class(self) -> tuple[str, str]:
        """What two routes must share at this segment to be unorderable."""
        return (self.kind, self.value) if self.kind == "static" else (self.kind, "")


@dataclass(frozen=True, slots=True)
class Pattern:
    """A parsed path pattern.

    Attributes:
        path: the pattern as written.
        segments: its segments; ``/`` has none, and a trailing slash is a final empty
            static segment.
    """

    path: str
    segments: tuple[Segment, ...]

    @property
    def signature(self) -> tuple[tuple[str, str], ...]:
        """The rank classes of the segments: equal signatures mean a conflict."""
        return tuple(s.rank_class for s in self.segments)

    @property
    def is_static(self) -> bool:
        """True when every segment is static text."""
        return all(s.kind == "static" for s in self.segments)


def parse_pattern(path: str) -> Pattern:
    """Parse a route path pattern such as ``/orders/{id:int}/items/{rest:path}``.

    Raises:
        PatternError: the path does not start with ``/``, has an empty, ``.`` or ``..``
            segment, a malformed or partial-segment variable, an unknown type, a repeated
            or non-identifier name, or a ``path`` variable that is not last.
    """
    if not isinstance(path, str) or not path.startswith("/"):
        raise PatternError(f"route path {path!r} must start with '/'")
    if path == "/":
        return Pattern(path, ())
    parts = path[1:].split("/")
    segments: list[Segment] = []
    names: set[str] = set()
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part == "":
            if not last:
                raise PatternError(f"route path {path!r} has an empty segment ('//')")
            segments.append(Segment("static", ""))  # the trailing slash
            continue
        var = _VAR.fullmatch(part)
        if var is None:
            if "{" in part or "}" in part:
                raise PatternError(
                    f"route path {path!r}: segment {part!r} must be a whole "
                    "'{name}' or '{name:type}' variable, or contain no braces"
                )
            if part in _DOT_SEGMENTS:
                raise PatternError(f"route path {path!r} has a {part!r} segment")
            if _FORBIDDEN_STATIC.search(part):
                raise PatternError(
                    f"route path {path!r}: segment {part!r} contains '?', '#' or a control "
                    "character"
                )
            segments.append(Segment("static", part))
            continue
        name, kind = var.group(1), var.group(2) or "str"
        if not name.isidentifier() or not name.isascii():
            raise PatternError(f"route path {path!r}: {name!r} is not a valid variable name")
        if name in names:
            raise PatternError(f"route path {path!r} uses the variable name {name!r} twice")
        if kind not in ("str", "int", "uuid", "path"):
            raise PatternError(
                f"route path {path!r}: unknown type {kind!r} for {name!r} "
                "(use int, uuid, path, or none)"
            )
        if kind == "path" and not last:
            raise PatternError(f"route path {path!r}: {{{name}:path}} must be the last segment")
        names.add(name)
        segments.append(Segment(kind, name))  # type: ignore[arg-type]  # checked above
    return Pattern(path, tuple(segments))


@dataclass(frozen=True)
class AuthConfig:
    """A route's authentication; secret values are already resolved by the platform.

    ``api_key``: the ``header`` must equal one of ``keys`` (compared in constant time).
    ``hmac``: the ``header`` holds the hex HMAC-SHA256, keyed by ``secret``, of
    ``timestamp + "." + body`` (optionally prefixed ``sha256=``), where the timestamp is
    the ``timestamp_header``'s value in Unix seconds, within ``tolerance_s`` of now.
    With no keys or an empty secret every request is refused. Header names are
    case-insensitive.
    """

    kind: Literal["api_key", "hmac"]
    header: str = ""  # default: x-api-key / x-plait-signature
    keys: tuple[str, ...] = ()
    secret: str = ""
    timestamp_header: str = "x-plait-timestamp"
    tolerance_s: float = 300.0

    def __post_init__(self) -> None:
        if self.kind not in ("api_key", "hmac"):
            raise ValueError(f"unknown auth kind {self.kind!r} (use api_key or hmac)")
        header = self.header or ("x-api-key" if self.kind == "api_key" else "x-plait-signature")
        object.__setattr__(self, "header", header.lower())
        object.__setattr__(self, "timestamp_header", self.timestamp_header.lower())
        object.__setattr__(self, "keys", tuple(self.keys))


@dataclass(frozen=True)
class CorsConfig:
    """A route's CORS policy.

    Attributes:
        allow_origins: exact origins, or ``"*"`` for any.
        allow_methods: methods a preflight allows; empty means the route's own method.
        allow_headers: request headers a preflight allows (``"*"`` for any).
        allow_credentials: send ``Access-Control-Allow-Credentials: true`` (the origin is
            then echoed rather than ``*``).
        max_age_s: how long a browser may cache the preflight.
    """

    allow_origins: tuple[str, ...] = ("*",)
    allow_methods: tuple[str, ...] = ()
    allow_headers: tuple[str, ...] = ()
    allow_credentials: bool = False
    max_age_s: int = 600

    def __post_init__(self) -> None:
        object.__setattr__(self, "allow_origins", tuple(self.allow_origins))
        object.__setattr__(self, "allow_methods", tuple(m.upper() for m in self.allow_methods))
        object.__setattr__(self, "allow_headers", tuple(self.allow_headers))


@dataclass(frozen=True)
class RateLimit:
    """A token bucket per route, in each router process: ``requests`` per ``per_s``."""

    requests: int
    per_s: float = 1.0

    def __post_init__(self) -> None:
        if self.requests < 1 or self.per_s <= 0:
            raise ValueError("a rate limit needs requests >= 1 and per_s > 0")


@dataclass(frozen=True)
class RouteConfig:
    """How a route answers: sync or async, timeout, auth, CORS, rate limit."""

    mode: Literal["sync", "async"] = "sync"
    timeout_s: float = 30.0
    auth: AuthConfig | None = None
    cors: CorsConfig | None = None
    rate_limit: RateLimit | None = None

    def __post_init__(self) -> None:
        if self.mode not in ("sync", "async"):
            raise ValueError(f"unknown route mode {self.mode!r} (use sync or async)")
        if self.timeout_s <= 0:
            raise ValueError("a route timeout must be positive")


@dataclass(frozen=True)
class Route:
    """One published route: method + path pattern -> an opaque platform ``target``.

    The pattern is parsed on construction, so a bad path raises ``PatternError`` here.
    """

    method: str
    path: str
    config: RouteConfig = field(default_factory=RouteConfig)
    target: Any = None
    pattern: Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        method = self.method.upper()
        if method == "HEAD":
            raise ValueError("HEAD is not a route method: HEAD requests follow GET routes")
        if method not in METHODS:
            raise ValueError(f"unsupported route method {self.method!r}")
        object.__setattr__(self, "method", method)
        object.__setattr__(self, "pattern", parse_pattern(self.path))

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


class RouteConflict(Exception):
    """Two routes the ranking cannot order (same method, same rank class everywhere)."""

    def __init__(self, first: Route, second: Route) -> None:
        self.first = first
        self.second = second
        super().__init__(
            f"route {second} conflicts with {first}: same method and, at every segment, "
            "the same kind of segment, so no request could tell them apart"
        )


class MethodNotAllowed(Exception):
    """The path matches routes, but none for the request's method."""

    def __init__(self, allowed: tuple[str, ...]) -> None:
        self.allowed = allowed
        super().__init__(f"method not allowed; allowed: {', '.join(allowed)}")


@dataclass(frozen=True)
class Match:
    """The route a request resolved to, with its typed path parameters.

    ``int`` -> ``int``, ``uuid`` -> canonical lower-case ``str``, ``path`` -> the rest of
    the decoded path joined by ``/``, untyped -> the decoded segment.
    """

    route: Route
    params: dict[str, Any]


class _Node:
    """A trie node: the routes whose patterns share one signature prefix."""

    __slots__ = ("int_", "methods", "rest", "routes", "static", "str_", "uuid")

    def __init__(self) -> None:
        self.static: dict[str, _Node] = {}
        self.int_: _Node | None = None
        self.uuid: _Node | None = None
        self.str_: _Node | None = None
        self.rest: dict[str, Route] = {}  # method -> route ending in {x:path} here
        self.routes: dict[str, Route] = {}  # method -> route ending exactly here
        self.methods: set[str] = set()  # every method reachable below, for pruning


def _walk(node: _Node, segs: list[str], i: int, method: str) -> Route | None:
    """Depth-first search in rank order: the first full match is the best-ranked one.

    Each trie node is reached by at most one path for a given request, so a search costs
    at most the size of the trie.
    """
    if i == len(segs):
        return node.routes.get(method)
    seg = segs[i]
    child = node.static.get(seg)
    if child is not None and method in child.methods:
        found = _walk(child, segs, i + 1, method)
        if found is not None:
            return found
    if seg:
        if node.int_ is not None and method in node.int_.methods and _INT.fullmatch(seg):
            found = _walk(node.int_, segs, i + 1, method)
            if found is not None:
                return found
        if node.uuid is not None and method in node.uuid.methods and _UUID.fullmatch(seg):
            found = _walk(node.uuid, segs, i + 1, method)
            if found is not None:
                return found
        if node.str_ is not None and method in node.str_.methods:
            found = _walk(node.str_, segs, i + 1, method)
            if found is not None:
                return found
    if method in node.rest and any(segs[i:]):
        return node.rest[method]
    return None


def _methods(node: _Node, segs: list[str], i: int, into: set[str]) -> None:
    """Collect every method with some route matching ``segs`` (for 405's ``Allow``)."""
    if i == len(segs):
        into.update(node.routes)
        return
    seg = segs[i]
    child = node.static.get(seg)
    if child is not None:
        _methods(child, segs, i + 1, into)
    if seg:
        if node.int_ is not None and _INT.fullmatch(seg):
            _methods(node.int_, segs, i + 1, into)
        if node.uuid is not None and _UUID.fullmatch(seg):
            _methods(node.uuid, segs, i + 1, into)
        if node.str_ is not None:
            _methods(node.str_, segs, i + 1, into)
    if node.rest and any(segs[i:]):
        into.update(node.rest)


def _params(pattern: Pattern, segs: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for i, seg in enumerate(pattern.segments):
        if seg.kind == "static":
            continue
        if seg.kind == "int":
            params[seg.value] = int(segs[i])
        elif seg.kind == "uuid":
            params[seg.value] = segs[i].lower()
        elif seg.kind == "path":
            params[seg.value] = "/".join(segs[i:])
        else:
            params[seg.value] = segs[i]
    return params


def split_path(path: str) -> list[str] | None:
    """Split a request path as sent into decoded segments; None if it can match nothing.

    ``/`` has no segments; ``/a/`` is ``["a", ""]``. A path that does not start with
    ``/``, does not decode as UTF-8, or has a ``.``/``..`` segment gives None.
    """
    if not path.startswith("/"):
        return None
    if path == "/":
        return []
    segs = path[1:].split("/")
    if "%" in path:
        try:
            segs = [unquote(s, errors="strict") if "%" in s else s for s in segs]
        except UnicodeDecodeError:
            return None
    for s in segs:
        if s in _DOT_SEGMENTS:
            return None
    return segs


class RouteTable:
    """The routes of one project stage, in a segment trie built once.

    ``resolve`` is a few dict lookups for static paths and a rank-ordered trie search
    otherwise; the result never depends on the order routes were added.
    """

    def __init__(self, routes: Iterable[Route] = ()) -> None:
        """Build the table.

        Raises:
            RouteConflict: two of the routes cannot be ordered by the ranking.
        """
        self._root = _Node()
        self._routes: list[Route] = []
        self._by_signature: dict[tuple[str, tuple[tuple[str, str], ...]], Route] = {}
        # Fully static routes answer from one dict lookup: nothing can outrank them.
        self._static: dict[tuple[str, str], Route] = {}
        for route in routes:
            self.add(route)

    @property
    def routes(self) -> tuple[Route, ...]:
        """The routes, in the order they were added."""
        return tuple(self._routes)

    def conflict(self, route: Route) -> Route | None:
        """The route already in the table that ``route`` cannot be ordered against."""
        return self._by_signature.get((route.method, route.pattern.signature))

    def add(self, route: Route) -> None:
        """Add a route.

        Raises:
            RouteConflict: it cannot be ordered against a route already here.
        """
        existing = self.conflict(route)
        if existing is not None:
            raise RouteConflict(existing, route)
        node = self._root
        node.methods.add(route.method)
        for seg in route.pattern.segments:
            if seg.kind == "path":
                node.rest[route.method] = route
                break
            if seg.kind == "static":
                node = node.static.setdefault(seg.value, _Node())
            else:
                attr = f"{seg.kind}_" if seg.kind in ("int", "str") else seg.kind
                child = getattr(node, attr)
                if child is None:
                    child = _Node()
                    setattr(node, attr, child)
                node = child
            node.methods.add(route.method)
        else:
            node.routes[route.method] = route
        self._by_signature[(route.method, route.pattern.signature)] = route
        if route.pattern.is_static:
            self._static[(route.method, route.path)] = route
        self._routes.append(route)

    def resolve(self, method: str, path: str) -> Match | None:
        """The best-ranked route for ``method`` and ``path`` (as sent, percent-encoded).

        Returns:
            The match, or None when no route of any method matches the path.

        Raises:
            MethodNotAllowed: the path matches only routes of other methods.
        """
        method = method.upper()
        if method == "HEAD":
            method = "GET"
        if "%" not in path:
            route = self._static.get((method, path))
            if route is not None:
                return Match(route, {})
        segs = split_path(path)
        if segs is None:
            return None
        route = _walk(self._root, segs, 0, method) if method in self._root.methods else None
        if route is not None:
            return Match(route, _params(route.pattern, segs))
        allowed: set[str] = set()
        _methods(self._root, segs, 0, allowed)
        if allowed:
            if "GET" in allowed:
                allowed.add("HEAD")
            raise MethodNotAllowed(tuple(sorted(allowed)))
        return None

    def __len__(self) -> int:
        return len(self._routes)

    def __repr__(self) -> str:
        return f"RouteTable({[str(r) for r in self._routes]})"
