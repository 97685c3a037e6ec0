"""Projects and their stages.

A project's slug is unique across the installation, not just the workspace: it names the
project's hosts (``{slug}-{stage}.<base domain>``, ARCHITECTURE.md §6), like a subdomain on
any hosted platform. That a slug is taken is therefore the one fact about another
workspace the API tells: nothing else of that project (id, name, owner) is revealed.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..db.models import Project, Stage
from ..errors import ApiError, not_found
from .scoping import get_owned, owned

DEFAULT_STAGES = ("dev", "prod")
# ``{slug}-{stage}`` must fit one DNS label.
DNS_LABEL_MAX = 63


def _slug_taken(slug: str) -> ApiError:
    return ApiError(
        409,
        "conflict",
        f"the project slug {slug!r} is taken; slugs are unique across the installation "
        "(they name the project's hosts), so pick another",
        {"field": "slug"},
    )


def create(session: Session, workspace_id: str, *, name: str, slug: str) -> Project:
    """A new project with the stages ``dev`` and ``prod``."""
    if session.scalar(select(Project.id).where(Project.slug == slug)) is not None:
        raise _slug_taken(slug)
    project = Project(workspace_id=workspace_id, name=name, slug=slug)
    session.add(project)
    try:
        session.flush()
    except IntegrityError:  # taken between the check and the insert
        session.rollback()
        raise _slug_taken(slug) from None
    for stage in DEFAULT_STAGES:
        session.add(Stage(workspace_id=workspace_id, project_id=project.id, name=stage))
    session.flush()
    return project


def get(session: Session, workspace_id: str, project_id: str) -> Project:
    return get_owned(session, Project, project_id, workspace_id, "project")


def list_page(
    session: Session, workspace_id: str, *, limit: int, offset: int
) -> tuple[list[Project], int]:
    """A page of the workspace's projects by name, and how many there are."""
    query = owned(Project, workspace_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(func.lower(Project.name), Project.id).limit(limit).offset(offset)
    )
    return list(rows), total


def rename(session: Session, project: Project, name: str) -> Project:
    project.name = name
    session.flush()
    return project


def delete(session: Session, project: Project) -> None:
    """Delete the project with everything in it (stages, flows, versions, runs, secrets:
    the foreign keys cascade)."""
    session.delete(project)
    session.flush()


# -- stages ----------------------------------------------------------------------------


def list_stages(session: Session, project: Project) -> list[Stage]:
    """The project's stages: ``dev``, ``prod``, then the others by name."""
    stages = session.scalars(
        owned(Stage, project.workspace_id).where(Stage.project_id == project.id)
    )
    return sorted(stages, key=_stage_order)


def _stage_order(stage: Stage) -> tuple[int, str]:
    if stage.name in DEFAULT_STAGES:
        return (DEFAULT_STAGES.index(stage.name), "")
    return (len(DEFAULT_STAGES), stage.name)


def get_stage(session: Session, project: Project, name: str) -> Stage:
    stage = session.scalar(
        owned(Stage, project.workspace_id).where(Stage.project_id == project.id, Stage.name == name)
    )
    if stage is None:
        raise not_found("stage")
    return stage


def create_stage(session: Session, project: Project, name: str) -> Stage:
    label = f"{project.slug}-{name}"
    if len(label) > DNS_LABEL_MAX:
        raise ApiError(
            422,
            "invalid",
            f"the host label {label!r} would be {len(label)} characters; a DNS label holds "
            f"{DNS_LABEL_MAX}, so this project's stage names can be at most "
            f"{DNS_LABEL_MAX - len(project.slug) - 1} characters",
            {"field": "name"},
        )
    exists = ApiError(409, "conflict", f"the project already has a stage {name!r}")
    if session.scalar(select(Stage.id).where(Stage.project_id == project.id, Stage.name == name)):
        raise exists
    stage = Stage(workspace_id=project.workspace_id, project_id=project.id, name=name)
    session.add(stage)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise exists from None
    return stage


def delete_stage(session: Session, project: Project, name: str) -> None:
    stage = get_stage(session, project, name)
    if stage.name in DEFAULT_STAGES:
        raise ApiError(
            409, "conflict", f"{stage.name!r} is a built-in stage of every project; it stays"
        )
    session.delete(stage)
    session.flush()
