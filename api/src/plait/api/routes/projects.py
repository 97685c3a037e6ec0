"""Routes of the `projects` tag: projects and their stages.

A project groups flows and secrets; its slug names its hosts
(``{slug}-{stage}.<base domain>``), so it is unique across the installation and fixed
for the project's life. Every project has the stages ``dev`` and ``prod``; more may be
added.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from ..deps import CurrentPrincipal, Editor, SessionDep
from ..schemas.common import ID_PATTERN, MAX_OFFSET, error_responses
from ..schemas.projects import (
    STAGE_MAX,
    STAGE_PATTERN,
    ProjectCreate,
    ProjectPage,
    ProjectPublic,
    ProjectUpdate,
    StageCreate,
    StagePublic,
)
from ..services import projects as service

router = APIRouter(tags=["projects"], responses=error_responses(401, 422))

ProjectId = Annotated[str, Path(pattern=ID_PATTERN, description="The project's id.")]
StageName = Annotated[
    str, Path(max_length=STAGE_MAX, pattern=STAGE_PATTERN, description="The stage's name.")
]
Limit = Annotated[int, Query(ge=1, le=500, description="At most this many items.")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Skip this many items first.")]


@router.post(
    "/projects", status_code=201, summary="Create a project", responses=error_responses(403, 409)
)
def create(body: ProjectCreate, principal: Editor, session: SessionDep) -> ProjectPublic:
    """Create a project with the stages `dev` and `prod`. The slug is unique across the
    installation, since it names the project's hosts: a slug in use anywhere gets 409
    (`details.field` is `"slug"`). Editors and owners."""
    project = service.create(session, principal.workspace_id, name=body.name, slug=body.slug)
    session.commit()
    return ProjectPublic.model_validate(project)


# Named ``list`` in the OpenAPI document; ``list_projects`` here, so ``list`` stays a type.
@router.get("/projects", name="list", summary="List projects")
def list_projects(
    principal: CurrentPrincipal, session: SessionDep, limit: Limit = 100, offset: Offset = 0
) -> ProjectPage:
    """The workspace's projects, by name."""
    rows, total = service.list_page(session, principal.workspace_id, limit=limit, offset=offset)
    return ProjectPage(
        items=[ProjectPublic.model_validate(p) for p in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/projects/{project_id}", summary="Read a project", responses=error_responses(404))
def read(project_id: ProjectId, principal: CurrentPrincipal, session: SessionDep) -> ProjectPublic:
    """One project of the workspace."""
    return ProjectPublic.model_validate(service.get(session, principal.workspace_id, project_id))


@router.patch(
    "/projects/{project_id}", summary="Rename a project", responses=error_responses(403, 404)
)
def update(
    project_id: ProjectId, body: ProjectUpdate, principal: Editor, session: SessionDep
) -> ProjectPublic:
    """Change a project's name. The slug stays: it is part of every published URL."""
    project = service.get(session, principal.workspace_id, project_id)
    service.rename(session, project, body.name)
    session.commit()
    return ProjectPublic.model_validate(project)


@router.delete(
    "/projects/{project_id}",
    status_code=204,
    summary="Delete a project",
    responses=error_responses(403, 404),
)
def delete(project_id: ProjectId, principal: Editor, session: SessionDep) -> None:
    """Delete a project and everything in it: stages, flows, versions, runs and secrets.
    Its slug becomes free again."""
    service.delete(session, service.get(session, principal.workspace_id, project_id))
    session.commit()


@router.get(
    "/projects/{project_id}/stages",
    summary="List a project's stages",
    responses=error_responses(404),
)
def list_stages(
    project_id: ProjectId, principal: CurrentPrincipal, session: SessionDep
) -> list[StagePublic]:
    """The project's stages: `dev`, `prod`, then the others by name."""
    project = service.get(session, principal.workspace_id, project_id)
    return [StagePublic.model_validate(s) for s in service.list_stages(session, project)]


@router.post(
    "/projects/{project_id}/stages",
    status_code=201,
    summary="Add a stage",
    responses=error_responses(403, 404, 409),
)
def create_stage(
    project_id: ProjectId, body: StageCreate, principal: Editor, session: SessionDep
) -> StagePublic:
    """Add a stage (lowercase letters and digits, no dash: the router splits
    `{project}-{stage}` at the last dash). `{slug}-{stage}` must fit one 63-character DNS
    label (422 otherwise); 409 when the project has the stage already."""
    project = service.get(session, principal.workspace_id, project_id)
    stage = service.create_stage(session, project, body.name)
    session.commit()
    return StagePublic.model_validate(stage)


@router.delete(
    "/projects/{project_id}/stages/{stage_name}",
    status_code=204,
    summary="Delete a stage",
    responses=error_responses(403, 404, 409),
)
def delete_stage(
    project_id: ProjectId, stage_name: StageName, principal: Editor, session: SessionDep
) -> None:
    """Delete a stage that was added; `dev` and `prod` stay (409)."""
    project = service.get(session, principal.workspace_id, project_id)
    service.delete_stage(session, project, stage_name)
    session.commit()
