"""Routes of the `publish` tag: flow versions on stages, their history, rollback, promotion.

Publishing needs the editor role; viewers read the history. Every change commits in
one transaction, then tells the router (when the platform has one) that the stage's
route table is stale.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from ..db.models import Flow
from ..deps import CurrentPrincipal, Editor, PlatformDep, SessionDep
from ..platform import Platform
from ..schemas.common import MAX_OFFSET, ErrorResponse, error_responses
from ..schemas.projects import STAGE_MAX, STAGE_PATTERN
from ..schemas.publish import (
    PromoteRequest,
    PublicationPage,
    PublicationPublic,
    PublishedRoute,
    PublishedSchedule,
    PublishRequest,
    RollbackRequest,
)
from ..services import flows as flow_service
from ..services import projects
from ..services import publish as service
from .flows import FlowId
from .projects import ProjectId

log = logging.getLogger(__name__)

router = APIRouter(tags=["publish"], responses=error_responses(401, 422))

StageName = Annotated[
    str, Path(max_length=STAGE_MAX, pattern=STAGE_PATTERN, description="The stage's name.")
]
Limit = Annotated[int, Query(ge=1, le=500, description="At most this many items.")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Skip this many items first.")]

_REFUSED: dict[int | str, dict[str, Any]] = {
    409: {
        "model": ErrorResponse,
        "description": "`route_conflict`: a route the router cannot order against an active "
        "route of the stage (`details.route`, `details.conflicts_with`: flow, method, path).",
    }
}


def _public(platform: Platform, slug: str, view: service.PublicationView) -> PublicationPublic:
    p = view.publication
    routes = [
        PublishedRoute(
            method=r.method,
            path=r.path,
            url=service.route_url(platform.settings, slug, p.stage, r.path),
            node_id=r.node_id,
            mode=r.mode,
        )
        for r in view.routes
    ]
    schedules = [PublishedSchedule.model_validate(s) for s in view.schedules]
    return PublicationPublic(
        id=p.id,
        project_id=p.project_id,
        stage=p.stage,
        flow_id=p.flow_id,
        flow_name=view.flow_name,
        version=p.version,
        bundle_id=p.bundle_id,
        action=p.action,
        active=p.active,
        published_by=p.published_by,
        published_at=p.published_at,
        unpublished_at=p.unpublished_at,
        routes=routes,
        schedules=schedules,
    )


def _slug(session: SessionDep, flow: Flow) -> str:
    return projects.get(session, flow.workspace_id, flow.project_id).slug


def _committed(
    session: SessionDep, platform: Platform, flow: Flow, view: service.PublicationView
) -> PublicationPublic:
    """Commit a publication, then refresh the router's tables and answer with it."""
    slug = _slug(session, flow)
    session.commit()
    _invalidate(platform, slug, view.publication.stage)
    return _public(platform, slug, view)


def _invalidate(platform: Platform, slug: str, *stages: str) -> None:
    """Tell the router's route cache, when there is one, after the commit."""
    events = getattr(platform, "route_events", None)
    if events is None:
        return
    for stage in stages:
        try:
            events.invalidate(slug, stage)
        except Exception:  # the change is committed; a stale cache must not make it a 500
            log.exception("could not invalidate the routes of %s-%s", slug, stage)


@router.post(
    "/flows/{flow_id}/publish",
    summary="Publish a flow",
    responses={**error_responses(403, 404), **_REFUSED},
)
def publish(
    flow_id: FlowId,
    body: PublishRequest,
    principal: Editor,
    session: SessionDep,
    platform: PlatformDep,
) -> PublicationPublic:
    """Put a version of the flow on a stage of its project, with its routes (one per
    `trigger.webhook` node) and schedules (one per `trigger.schedule` node), replacing
    the version the flow had there. Without `version`, a new version is cut from the saved
    draft first (422 `invalid_flow` with `details.problems` when it does not validate).

    Refused, with nothing changed: 409 `route_conflict` when a route cannot be told apart
    from an active route of another flow on the stage (same method and, segment by
    segment, the same kind of text: `/hello/me` and `/hello/{name}` live side by side,
    `/hello/{a}` and `/hello/{b}` do not); 422 `invalid_route` for a path pattern the
    router refuses. Each route's `url` is where it answers."""
    flow = flow_service.get(session, principal.workspace_id, flow_id)
    view = service.publish(
        session,
        flow,
        body.stage,
        registry=platform.registry,
        blobs=platform.blobs,
        user_id=principal.user_id,
        max_bytes=platform.settings.max_flow_bytes,
        version_number=body.version,
    )
    return _committed(session, platform, flow, view)


@router.delete(
    "/flows/{flow_id}/publish/{stage_name}",
    status_code=204,
    summary="Unpublish a flow",
    responses=error_responses(403, 404),
)
def unpublish(
    flow_id: FlowId,
    stage_name: StageName,
    principal: Editor,
    session: SessionDep,
    platform: PlatformDep,
) -> None:
    """Take the flow off the stage: its routes stop answering (404) and its schedules stop.
    404 when the flow is not published there. The history keeps the publication."""
    flow = flow_service.get(session, principal.workspace_id, flow_id)
    ended = service.unpublish(session, flow, stage_name)
    slug = _slug(session, flow)
    session.commit()
    _invalidate(platform, slug, ended.stage)


@router.post(
    "/flows/{flow_id}/publish/{stage_name}/rollback",
    summary="Roll a stage back",
    responses={**error_responses(403, 404), **_REFUSED},
)
def rollback(
    flow_id: FlowId,
    stage_name: StageName,
    body: RollbackRequest,
    principal: Editor,
    session: SessionDep,
    platform: PlatformDep,
) -> PublicationPublic:
    """Publish again an earlier version of the flow that was published on this stage
    before (404 when it never was), as *Publish a flow* does, conflicts included."""
    flow = flow_service.get(session, principal.workspace_id, flow_id)
    view = service.rollback(
        session,
        flow,
        stage_name,
        body.version,
        registry=platform.registry,
        blobs=platform.blobs,
        user_id=principal.user_id,
        max_bytes=platform.settings.max_flow_bytes,
    )
    return _committed(session, platform, flow, view)


@router.post(
    "/flows/{flow_id}/promote",
    summary="Promote a flow",
    responses={**error_responses(403, 404), **_REFUSED},
)
def promote(
    flow_id: FlowId,
    body: PromoteRequest,
    principal: Editor,
    session: SessionDep,
    platform: PlatformDep,
) -> PublicationPublic:
    """Publish on `to_stage` (default `prod`) the very version that is active on
    `from_stage` (default `dev`); 404 when the flow is not published on `from_stage`."""
    flow = flow_service.get(session, principal.workspace_id, flow_id)
    view = service.promote(
        session,
        flow,
        body.from_stage,
        body.to_stage,
        registry=platform.registry,
        blobs=platform.blobs,
        user_id=principal.user_id,
        max_bytes=platform.settings.max_flow_bytes,
    )
    return _committed(session, platform, flow, view)


@router.get(
    "/projects/{project_id}/stages/{stage_name}/publications",
    name="history",
    summary="A stage's publication history",
    responses=error_responses(404),
)
def history(
    project_id: ProjectId,
    stage_name: StageName,
    principal: CurrentPrincipal,
    session: SessionDep,
    platform: PlatformDep,
    limit: Limit = 100,
    offset: Offset = 0,
) -> PublicationPage:
    """Every publication made on the stage, newest first; `active` marks what it serves."""
    project = projects.get(session, principal.workspace_id, project_id)
    views, total = service.history(session, project, stage_name, limit=limit, offset=offset)
    return PublicationPage(
        items=[_public(platform, project.slug, v) for v in views],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get(
    "/projects/{project_id}/publications",
    name="list",
    summary="What a project's stages serve",
    responses=error_responses(404),
)
def list_publications(
    project_id: ProjectId,
    principal: CurrentPrincipal,
    session: SessionDep,
    platform: PlatformDep,
) -> list[PublicationPublic]:
    """The active publications of every stage of the project, by stage and flow name."""
    project = projects.get(session, principal.workspace_id, project_id)
    return [
        _public(platform, project.slug, v) for v in service.active_publications(session, project)
    ]
