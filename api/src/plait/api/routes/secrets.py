"""Routes of the `secrets` tag: a project's secrets, write-only.

Values are sealed at rest and never returned or logged; listing gives names and times.
Editors and owners write; viewers may list the names.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from ..deps import CurrentPrincipal, Editor, PlatformDep, SessionDep
from ..schemas.common import error_responses
from ..schemas.secrets import (
    SECRET_NAME_MAX,
    SECRET_NAME_PATTERN,
    SecretCreate,
    SecretPublic,
    SecretUpdate,
)
from ..services import projects
from ..services import secrets as service
from .projects import ProjectId

router = APIRouter(tags=["secrets"], responses=error_responses(401, 422))

SecretName = Annotated[
    str,
    Path(max_length=SECRET_NAME_MAX, pattern=SECRET_NAME_PATTERN, description="The secret's name."),
]


@router.post(
    "/projects/{project_id}/secrets",
    status_code=201,
    summary="Create a secret",
    responses=error_responses(403, 404, 409),
)
def create(
    project_id: ProjectId,
    body: SecretCreate,
    principal: Editor,
    session: SessionDep,
    platform: PlatformDep,
) -> SecretPublic:
    """Store a secret for the project's runs, where expressions read it as
    `{{ secrets.NAME }}`. The value is encrypted at rest and never returned; 409 when the
    project has a secret of that name already."""
    project = projects.get(session, principal.workspace_id, project_id)
    secret = service.create(
        session, platform.secret_box, project, body.name, body.value.get_secret_value()
    )
    session.commit()
    return SecretPublic.model_validate(secret)


@router.get(
    "/projects/{project_id}/secrets",
    name="list",
    summary="List a project's secrets",
    responses=error_responses(404),
)
def list_secrets(
    project_id: ProjectId, principal: CurrentPrincipal, session: SessionDep
) -> list[SecretPublic]:
    """The project's secrets by name: names and times, never values."""
    project = projects.get(session, principal.workspace_id, project_id)
    return [SecretPublic.model_validate(s) for s in service.list_names(session, project)]


@router.put(
    "/projects/{project_id}/secrets/{name}",
    summary="Change a secret's value",
    responses=error_responses(403, 404),
)
def update(
    project_id: ProjectId,
    name: SecretName,
    body: SecretUpdate,
    principal: Editor,
    session: SessionDep,
    platform: PlatformDep,
) -> SecretPublic:
    """Replace a secret's value; runs started afterwards see the new one."""
    project = projects.get(session, principal.workspace_id, project_id)
    secret = service.set_value(
        session, platform.secret_box, project, name, body.value.get_secret_value()
    )
    session.commit()
    return SecretPublic.model_validate(secret)


@router.delete(
    "/projects/{project_id}/secrets/{name}",
    status_code=204,
    summary="Delete a secret",
    responses=error_responses(403, 404),
)
def delete(project_id: ProjectId, name: SecretName, principal: Editor, session: SessionDep) -> None:
    """Delete a secret. Runs that read it afterwards fail at the expression that does."""
    project = projects.get(session, principal.workspace_id, project_id)
    service.delete(session, project, name)
    session.commit()
