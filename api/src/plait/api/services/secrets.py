"""Project secrets: sealed at rest, listed by name, never returned.

Each value is sealed with the platform's ``SecretBox`` under the context
``"{workspace_id}/{project_id}/{name}"`` (``context()``): a contract with the run side,
which opens them for runs (``runs/secrets.py``), and what keeps a ciphertext copied to
another row from opening. Values never appear in a response or a log line.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..crypto import SecretBox
from ..db.models import Project, Secret, now
from ..errors import ApiError, not_found
from .scoping import owned


def context(workspace_id: str, project_id: str, name: str) -> str:
    """The associated data a secret's value is sealed with."""
    return f"{workspace_id}/{project_id}/{name}"


def _exists(name: str) -> ApiError:
    return ApiError(
        409,
        "conflict",
        f"the project already has a secret {name!r}; update its value instead",
        {"field": "name"},
    )


def create(session: Session, box: SecretBox, project: Project, name: str, value: str) -> Secret:
    if session.scalar(
        select(Secret.id).where(Secret.project_id == project.id, Secret.name == name)
    ):
        raise _exists(name)
    secret = Secret(
        workspace_id=project.workspace_id,
        project_id=project.id,
        name=name,
        ciphertext=box.seal(value, context(project.workspace_id, project.id, name)),
    )
    session.add(secret)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise _exists(name) from None
    return secret


def list_names(session: Session, project: Project) -> list[Secret]:
    """The project's secrets by name (callers return names and times, never values)."""
    return list(
        session.scalars(
            owned(Secret, project.workspace_id)
            .where(Secret.project_id == project.id)
            .order_by(Secret.name)
        )
    )


def get(session: Session, project: Project, name: str) -> Secret:
    secret = session.scalar(
        owned(Secret, project.workspace_id).where(
            Secret.project_id == project.id, Secret.name == name
        )
    )
    if secret is None:
        raise not_found("secret")
    return secret


def set_value(session: Session, box: SecretBox, project: Project, name: str, value: str) -> Secret:
    secret = get(session, project, name)
    secret.ciphertext = box.seal(value, context(project.workspace_id, project.id, name))
    secret.updated_at = now()
    session.flush()
    return secret


def delete(session: Session, project: Project, name: str) -> None:
    session.delete(get(session, project, name))
    session.flush()
