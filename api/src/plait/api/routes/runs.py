"""Routes of the `runs` tag: start, list, read, events, cancel, retry, replay, diff,
signals.

Viewers read; editors start, cancel and signal. A run row is committed ``queued`` before
it is handed to the dispatcher, so an accepted run survives a crash of this process.
Routes that reach the dispatcher are ``async`` and do their database work in the
thread pool; the others are plain functions (FastAPI runs them in the thread pool).
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from plait.node_runner.engine import seeds_from_run

from ..db.models import FlowVersion, Run
from ..deps import CurrentPrincipal, Editor, PlatformDep, SessionDep
from ..errors import ApiError
from ..platform import Platform
from ..runs.dispatcher import DispatcherClosed
from ..schemas.common import ID_PATTERN, MAX_INT, error_responses
from ..schemas.runs import (
    NodeDiff,
    NodeState,
    RunCreate,
    RunDetail,
    RunDiff,
    RunEventPage,
    RunEventPublic,
    RunPage,
    RunPublic,
    RunReplay,
    RunStatus,
    Signal,
    SignalAccepted,
)
from ..services import runs as service

log = logging.getLogger(__name__)

router = APIRouter(tags=["runs"])

FlowId = Annotated[str, Path(pattern=ID_PATTERN, description="The flow's id.")]
RunId = Annotated[str, Path(pattern=ID_PATTERN, description="The run's id.")]
# How long cancel waits for the run to settle before answering.
CANCEL_SETTLE_S = 10.0


# -- helpers ---------------------------------------------------------------------------


def _public(run: Run, version: int | None, model: type[RunPublic] = RunPublic, **extra: Any) -> Any:
    return model(
        id=run.id,
        flow_id=run.flow_id,
        version=version,
        kind=run.trigger,
        status=run.status,
        trigger=run.trigger_node,
        input=run.input,
        result=run.result,
        error=run.error,
        parent_run_id=run.parent_run_id,
        created_at=service.aware(run.created_at),
        started_at=service.aware(run.started_at),
        finished_at=service.aware(run.finished_at),
        **extra,
    )


def _public_of(session: Session, run: Run) -> RunPublic:
    version = service.version_numbers(session, [run]).get(run.version_id or "")
    public: RunPublic = _public(run, version)
    return public


def _commit_new_run(session: Session, run: Run) -> tuple[Run, bool]:
    """Commit a new run; on an ``Idempotency-Key`` race, the run that won."""
    key = run.idempotency_key
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        existing = service.by_idempotency_key(session, key) if key else None
        if existing is None:
            raise
        return existing, False
    return run, True


async def _dispatch_and_wait(
    platform: Platform, session: Session, run: Run, wait_s: float | None
) -> None:
    try:
        await platform.dispatcher.dispatch(run.id)
    except DispatcherClosed:
        # Committed queued: the next start of the server runs it.
        log.info("run %s stays queued: the server is stopping", run.id)
        return
    if wait_s:
        await platform.dispatcher.wait(run.id, wait_s)
        await run_in_threadpool(session.refresh, run)


# -- routes ----------------------------------------------------------------------------


@router.post(
    "/flows/{flow_id}/runs",
    status_code=201,
    summary="Start a run",
    responses={
        200: {
            "model": RunPublic,
            "description": "The run an earlier request with this key started.",
        },
        **error_responses(403, 404, 422),
    },
)
async def start(
    flow_id: FlowId,
    body: RunCreate,
    principal: Editor,
    session: SessionDep,
    platform: PlatformDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=100)] = None,
) -> RunPublic:
    """Start a run of the draft or of a version; with pinned outputs, from a node.

    With an ``Idempotency-Key`` header, a repeat of the request returns the run the first
    one started (200) instead of starting another.
    """

    def create() -> tuple[Run, bool]:
        workspace_id = principal.workspace_id
        flow = service.get_flow(session, workspace_id, flow_id)
        stored_key = (
            service.idempotency_key(workspace_id, idempotency_key) if idempotency_key else None
        )
        if stored_key is not None:
            existing = service.by_idempotency_key(session, stored_key)
            if existing is not None:
                return existing, False
        target = service.resolve_target(session, flow, body.version, platform.dispatcher.plans)
        seeds: dict[str, Any] = {}
        if body.pinned or body.from_node:
            seeds = service.pinned_seeds(target.plan, body.pinned, body.from_node, platform.blobs)
        trigger = service.check_start(target.plan, body.trigger, seeds)
        run = service.create_run(
            session,
            workspace_id=workspace_id,
            flow=flow,
            target=target,
            input=body.input,
            trigger_node=trigger,
            seeds=seeds,
            created_by=principal.user_id,
            idempotency_key=stored_key,
        )
        return _commit_new_run(session, run)

    run, created = await run_in_threadpool(create)
    if created:
        await _dispatch_and_wait(platform, session, run, body.wait_s)
    else:
        response.status_code = 200
        if body.wait_s and run.status not in service.TERMINAL:
            await platform.dispatcher.wait(run.id, body.wait_s)
            await run_in_threadpool(session.refresh, run)
    return await run_in_threadpool(_public_of, session, run)


@router.get(
    "/flows/{flow_id}/runs", name="list", summary="List runs", responses=error_responses(404, 422)
)
def list_runs(
    flow_id: FlowId,
    principal: CurrentPrincipal,
    session: SessionDep,
    status: Annotated[
        list[RunStatus] | None, Query(description="Only runs in these states.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> RunPage:
    """A flow's runs, newest first."""
    service.get_flow(session, principal.workspace_id, flow_id)
    runs, next_cursor = service.list_runs(
        session, principal.workspace_id, flow_id, statuses=status or (), limit=limit, cursor=cursor
    )
    numbers = service.version_numbers(session, runs)
    items = [_public(run, numbers.get(run.version_id or "")) for run in runs]
    return RunPage(items=items, next_cursor=next_cursor)


@router.get("/runs/{run_id}", summary="Read a run", responses=error_responses(404))
def read(
    run_id: RunId, principal: CurrentPrincipal, session: SessionDep, platform: PlatformDep
) -> RunDetail:
    """A run with the state of each node: attempts, inputs, outputs, error, timings."""
    run = service.get_run(session, principal.workspace_id, run_id)
    state = service.state_of(session, run)
    plan = service.plan_or_none(session, run, platform.dispatcher.plans)
    nodes = {
        node_id: NodeState(**view) for node_id, view in service.node_views(plan, state).items()
    }
    version = service.version_numbers(session, [run]).get(run.version_id or "")
    detail: RunDetail = _public(run, version, RunDetail, nodes=nodes)
    return detail


@router.get("/runs/{run_id}/events", summary="Read a run's events", responses=error_responses(404))
def events(
    run_id: RunId,
    principal: CurrentPrincipal,
    session: SessionDep,
    after_seq: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> RunEventPage:
    """A run's events in order, a page at a time (``after_seq``: the last seq you have)."""
    run = service.get_run(session, principal.workspace_id, run_id)
    page = service.events(session, run.id, after_seq=after_seq, limit=limit)
    items = [RunEventPublic(**event.to_dict()) for event in page]
    return RunEventPage(items=items, next_after_seq=page[-1].seq if len(page) == limit else None)


@router.post(
    "/runs/{run_id}/cancel", summary="Cancel a run", responses=error_responses(403, 404, 409)
)
async def cancel(
    run_id: RunId, principal: Editor, session: SessionDep, platform: PlatformDep
) -> RunPublic:
    """Cancel a queued or running run: running nodes are cancelled, pending ones never run."""
    run = await run_in_threadpool(service.get_run, session, principal.workspace_id, run_id)
    if run.status in service.TERMINAL:
        raise ApiError(409, "conflict", f"the run has already {_ended(run.status)}")
    await platform.dispatcher.cancel(run.id)
    await platform.dispatcher.wait(run.id, CANCEL_SETTLE_S)
    await run_in_threadpool(session.refresh, run)
    return await run_in_threadpool(_public_of, session, run)


def _ended(status: str) -> str:
    return {"timed_out": "timed out"}.get(status, status)


@router.post(
    "/runs/{run_id}/retry",
    status_code=201,
    summary="Retry a run from where it failed",
    responses=error_responses(403, 404, 409, 422),
)
async def retry(
    run_id: RunId, principal: Editor, session: SessionDep, platform: PlatformDep
) -> RunPublic:
    """Run a failed, timed-out or cancelled run again from where it stopped: its
    succeeded nodes are not run again, their outputs are reused."""

    def create() -> Run:
        old = service.get_run(session, principal.workspace_id, run_id)
        if old.status not in service.RETRYABLE:
            raise ApiError(
                409,
                "conflict",
                f"only a failed, timed-out or cancelled run can be retried, not a {old.status} one",
            )
        flow = service.get_flow(session, principal.workspace_id, old.flow_id)
        document = service.document_of(session, old)
        if document is None:
            raise ApiError(409, "conflict", "the version this run ran was deleted")
        version = session.get(FlowVersion, old.version_id) if old.version_id else None
        plan = service.plan_of(platform.dispatcher.plans, document)
        seeds = seeds_from_run(service.state_of(session, old))
        run = service.create_run(
            session,
            workspace_id=principal.workspace_id,
            flow=flow,
            target=service.Target(document, version, plan),
            input=old.input,
            kind="retry",
            trigger_node=service.check_start(plan, old.trigger_node, seeds),
            seeds=seeds,
            created_by=principal.user_id,
        )
        session.commit()
        return run

    run = await run_in_threadpool(create)
    await _dispatch_and_wait(platform, session, run, None)
    return await run_in_threadpool(_public_of, session, run)


@router.post(
    "/runs/{run_id}/replay",
    status_code=201,
    summary="Replay a run on another version",
    responses=error_responses(403, 404, 422),
)
async def replay(
    run_id: RunId, body: RunReplay, principal: Editor, session: SessionDep, platform: PlatformDep
) -> RunPublic:
    """Run a past run's input again on a version (or the draft), to compare the two with
    ``diff``."""

    def create() -> Run:
        old = service.get_run(session, principal.workspace_id, run_id)
        flow = service.get_flow(session, principal.workspace_id, old.flow_id)
        target = service.resolve_target(session, flow, body.version, platform.dispatcher.plans)
        trigger = old.trigger_node if old.trigger_node in target.plan.triggers else None
        run = service.create_run(
            session,
            workspace_id=principal.workspace_id,
            flow=flow,
            target=target,
            input=old.input,
            kind="replay",
            trigger_node=service.check_start(target.plan, trigger, {}),
            created_by=principal.user_id,
        )
        session.commit()
        return run

    run = await run_in_threadpool(create)
    await _dispatch_and_wait(platform, session, run, body.wait_s)
    return await run_in_threadpool(_public_of, session, run)


@router.get(
    "/runs/{run_id}/diff/{other_run_id}", summary="Compare two runs", responses=error_responses(404)
)
def diff(
    run_id: RunId, other_run_id: RunId, principal: CurrentPrincipal, session: SessionDep
) -> RunDiff:
    """Per node, how two runs differ: status and output values (``left`` is ``run_id``)."""
    left = service.get_run(session, principal.workspace_id, run_id)
    right = service.get_run(session, principal.workspace_id, other_run_id)
    nodes = service.diff(service.state_of(session, left), service.state_of(session, right))
    return RunDiff(
        run_id=left.id,
        other_run_id=right.id,
        changed=[node_id for node_id, d in nodes.items() if d["changed"]],
        nodes={node_id: NodeDiff(**d) for node_id, d in nodes.items()},
    )


@router.post(
    "/runs/{run_id}/signals/{name}",
    status_code=202,
    summary="Signal a run",
    responses=error_responses(403, 404, 409),
)
async def signal(
    run_id: RunId,
    name: Annotated[str, Path(min_length=1, max_length=200, description="The signal's name.")],
    body: Signal,
    principal: Editor,
    session: SessionDep,
    platform: PlatformDep,
) -> SignalAccepted:
    """Send a signal to a running run: it wakes the node waiting for ``name`` (or the next
    one to wait for it)."""
    run = await run_in_threadpool(service.get_run, session, principal.workspace_id, run_id)
    if run.status in service.TERMINAL or not await platform.dispatcher.signal(
        run.id, name, body.payload
    ):
        raise ApiError(409, "conflict", f"the run is {run.status}; no node of it can take a signal")
    return SignalAccepted(run_id=run.id, name=name)
