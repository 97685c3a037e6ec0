"""Plait's data plane: the router for published flows (ARCHITECTURE.md §6).

It turns a request on ``{project}-{stage}.<base domain>`` (or ``/p/{project}/{stage}/…``)
into a run of the flow published there, and the run's ``http.respond`` into the answer.
What it needs from the platform — route tables, starting and awaiting a run — comes
through the small protocols of :mod:`plait.router.app` that ``plait.api`` implements
and injects. It imports only ``plait.node_runner``.
"""

from plait.router.app import RouterApp, RouteSource, RunOutcome, RunStarter, create_router_app
from plait.router.routes import (
    AuthConfig,
    CorsConfig,
    Match,
    MethodNotAllowed,
    Pattern,
    PatternError,
    RateLimit,
    Route,
    RouteConfig,
    RouteConflict,
    RouteTable,
    parse_pattern,
)

__all__ = [
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
    "RouteSource",
    "RouteTable",
    "RouterApp",
    "RunOutcome",
    "RunStarter",
    "create_router_app",
    "parse_pattern",
]
