"""Routes of the `ws` tag: live run events over WebSocket.

``/api/ws/runs/{run_id}`` sends the run's events from ``after_seq`` (default: all of
them) and then live ones, each once and in ``seq`` order, and closes (1000) after the
run's terminal event. ``/api/ws/flows/{flow_id}`` sends the events so far of the flow's
active (queued or running) runs, then the live events of every run of the flow.
Messages are ``RunEvent.to_dict()`` JSON objects.

The credential is a bearer token (``?token=`` — browsers cannot set headers on a
WebSocket — or ``Authorization``) or the session cookie. A socket is closed with 4401
when the credential is missing or bad and 4404 when the run or flow is not in the
caller's workspace (also when it exists in another one).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Query, WebSocket
from sqlalchemy import select
from starlette.websockets import WebSocketDisconnect

from plait.node_runner.events import RUN_TERMINAL_EVENTS

from ..db.models import Flow, Run
from ..deps import SESSION_COOKIE
from ..platform import Platform
from ..runs.hub import flow_channel, run_channel
from ..runs.store import read_events
from ..services.auth import Principal, authenticate

router = APIRouter(tags=["ws"])

CLOSE_UNAUTHORIZED = 4401
CLOSE_NOT_FOUND = 4404
BACKLOG_PAGE = 1000
# A run socket that hears nothing for this long reads the database for events after its
# last one: a lost message (the last one of a run, say) cannot leave it waiting forever.
POLL_S = 2.0


@router.websocket("/ws/runs/{run_id}")
async def run_events(
    websocket: WebSocket,
    run_id: str,
    token: Annotated[str | None, Query(max_length=200)] = None,
    after_seq: Annotated[int, Query(ge=0)] = 0,
) -> None:
    """A run's events: the backlog after ``after_seq``, then live until the run ends."""
    platform: Platform = websocket.app.state.platform
    workspace_id = await _open(websocket, platform, token, Run, run_id, "run")
    if workspace_id is not None:
        await _serve(websocket, _run_stream(platform, workspace_id, run_id, after_seq))


@router.websocket("/ws/flows/{flow_id}")
async def flow_events(
    websocket: WebSocket,
    flow_id: str,
    token: Annotated[str | None, Query(max_length=200)] = None,
) -> None:
    """The events of a flow's active runs so far, then live events of all its runs."""
    platform: Platform = websocket.app.state.platform
    workspace_id = await _open(websocket, platform, token, Flow, flow_id, "flow")
    if workspace_id is not None:
        await _serve(websocket, _flow_stream(platform, workspace_id, flow_id))


async def _open(
    websocket: WebSocket,
    platform: Platform,
    token: str | None,
    model: type[Run] | type[Flow],
    row_id: str,
    what: str,
) -> str | None:
    """Accept the socket for the caller's workspace when the row is theirs; else close it
    (4401 for a bad credential, 4404 for another workspace's or an unknown id)."""
    principal = await _accept(websocket, platform, token)
    if principal is None:
        return None
    if not await asyncio.to_thread(_owns, platform, model, row_id, principal.workspace_id):
        await websocket.close(CLOSE_NOT_FOUND, f"{what} not found")
        return None
    return principal.workspace_id


# -- streams -------------------------------------------------------------------------------


async def _run_stream(
    platform: Platform, workspace_id: str, run_id: str, after_seq: int
) -> AsyncIterator[dict[str, Any]]:
    # Subscribe first, then read the backlog: see runs/hub.py for why nothing is missed.
    async with platform.hub.subscribe(run_channel(workspace_id, run_id)) as subscription:
        last = after_seq
        while True:
            page = await asyncio.to_thread(_events, platform, run_id, last, BACKLOG_PAGE)
            for event in page:
                yield event
                last = event["seq"]
                if event["type"] in RUN_TERMINAL_EVENTS:
                    return
            if len(page) < BACKLOG_PAGE:
                break
        while True:
            try:
                live = [await asyncio.wait_for(subscription.get(), POLL_S)]
            except TimeoutError:
                live = await asyncio.to_thread(_events, platform, run_id, last, BACKLOG_PAGE)
            for event in live:
                seq = event["seq"]
                if seq <= last:
                    continue  # already sent
                if seq > last + 1:  # lost in transport: read the missing ones back
                    missing = await asyncio.to_thread(
                        _events, platform, run_id, last, seq - last - 1
                    )
                    for missed in missing:
                        yield missed
                yield event
                last = seq
                if event["type"] in RUN_TERMINAL_EVENTS:
                    return


async def _flow_stream(
    platform: Platform, workspace_id: str, flow_id: str
) -> AsyncIterator[dict[str, Any]]:
    async with platform.hub.subscribe(flow_channel(workspace_id, flow_id)) as subscription:
        last: dict[str, int] = {}  # per run: the last seq sent
        for run_id in await asyncio.to_thread(_active_runs, platform, flow_id):
            for event in await asyncio.to_thread(_events, platform, run_id, 0, None):
                yield event
                last[run_id] = event["seq"]
        async for event in subscription:
            run_id, seq = event["run_id"], event["seq"]
            previous = last.get(run_id, 0)
            if seq <= previous:
                continue
            if seq > previous + 1:
                for missed in await asyncio.to_thread(
                    _events, platform, run_id, previous, seq - previous - 1
                ):
                    yield missed
            yield event
            last[run_id] = seq


async def _serve(websocket: WebSocket, stream: AsyncIterator[dict[str, Any]]) -> None:
    """Send the stream until it ends (then close normally) or the client goes away."""
    async with anyio.create_task_group() as group:

        async def send() -> None:
            with contextlib.suppress(WebSocketDisconnect):  # gone while we were sending
                async for message in stream:
                    await websocket.send_json(message)
                await websocket.close()
            group.cancel_scope.cancel()

        async def until_disconnected() -> None:
            while (await websocket.receive())["type"] != "websocket.disconnect":
                pass  # clients have nothing to say; anything they send is ignored
            group.cancel_scope.cancel()

        group.start_soon(send)
        group.start_soon(until_disconnected)


# -- helpers ------------------------------------------------------------------------------


async def _accept(websocket: WebSocket, platform: Platform, token: str | None) -> Principal | None:
    """Accept the socket and authenticate; closes it with 4401 and returns None when the
    credential is missing or bad. (Accept first: only an accepted socket can be closed
    with a code the client sees.)"""
    credential = token or _bearer(websocket) or websocket.cookies.get(SESSION_COOKIE)
    principal = None
    if credential:
        principal = await asyncio.to_thread(_authenticate, platform, credential)
    await websocket.accept()
    if principal is None:
        await websocket.close(CLOSE_UNAUTHORIZED, "log in, or pass an API token as ?token=")
    return principal


def _bearer(websocket: WebSocket) -> str | None:
    scheme, _, value = websocket.headers.get("authorization", "").partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def _authenticate(platform: Platform, credential: str) -> Principal | None:
    with platform.db.sessions() as session:
        return authenticate(session, credential, kinds=("api", "session"))


def _owns(
    platform: Platform, model: type[Run] | type[Flow], row_id: str, workspace_id: str
) -> bool:
    query = select(model.id).where(model.id == row_id, model.workspace_id == workspace_id)
    with platform.db.sessions() as session:
        return session.scalar(query) is not None


def _active_runs(platform: Platform, flow_id: str) -> list[str]:
    with platform.db.sessions() as session:
        query = (
            select(Run.id)
            .where(Run.flow_id == flow_id, Run.status.in_(("queued", "running")))
            .order_by(Run.created_at)
        )
        return list(session.scalars(query))


def _events(
    platform: Platform, run_id: str, after_seq: int, limit: int | None
) -> list[dict[str, Any]]:
    with platform.db.engine.connect() as connection:
        return [
            e.to_dict() for e in read_events(connection, run_id, after_seq=after_seq, limit=limit)
        ]
