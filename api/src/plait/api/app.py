"""The API application: ``create_app(platform)``.

Routes live in ``routes/`` (one module per tag); operation ids are ``{tag}-{function}``
so the generated editor client stays stable.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import errors, runtime
from .errors import error_body
from .platform import Platform
from .routes import (
    auth,
    flows,
    health,
    nodes,
    projects,
    publish,
    runs,
    schedules,
    secrets,
    workspaces,
    ws,
)


def _operation_id(route: APIRoute) -> str:
    return f"{route.tags[0]}-{route.name}" if route.tags else route.name


class BodyLimit:
    """Refuse request bodies over the limit with 413, whether or not they say their size."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await self._too_large(send)
                return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._too_large(send)

    async def _too_large(self, send: Send) -> None:
        import json

        body = json.dumps(
            error_body("too_large", f"request body is over the limit of {self.limit} bytes")
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


def create_app(platform: Platform, *, migrate: bool = True) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if migrate:
            platform.migrate()
        await runtime.start(platform)
        try:
            yield
        finally:
            await runtime.stop(platform)

    app = FastAPI(
        title="Plait API",
        version="0.1.0",
        summary="Control plane of Plait, the visual workflow orchestrator.",
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
    )
    app.state.platform = platform
    errors.install(app)
    for module in (health, auth, workspaces, projects, flows, publish, runs, secrets, nodes, ws):
        app.include_router(module.router, prefix="/api")
    app.include_router(schedules.router, prefix="/api")
    app.add_middleware(BodyLimit, limit=platform.settings.max_body_bytes)
    return app


def openapi_document(platform: Platform) -> dict[str, Any]:
    return create_app(platform, migrate=False).openapi()
