"""SQLAlchemy 2 models: the platform's persistent state.

Every row that belongs to a tenant carries ``workspace_id``; services filter on it in every
query. Ids are random hex strings, so they can't be guessed or counted.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ROLES = ("owner", "editor", "viewer")
TOKEN_KINDS = ("api", "session", "login")
RUN_STATUSES = ("queued", "running", "succeeded", "failed", "timed_out", "cancelled")

# Stable constraint names, so migrations read the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_id() -> str:
    return uuid.uuid4().hex


def now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: DateTime(timezone=True), dict[str, Any]: JSON}


class Workspace(Base):
    __tablename__ = "workspaces"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=now)


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=now)


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("workspace_id", "user_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(default=now)


class ApiToken(Base):
    """Bearer tokens (``api``), browser sessions (``session``) and one-time login links
    (``login``). Only the SHA-256 of a token is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10), default="api")
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(10))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=now)
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    # Unique across the installation, like subdomains on a hosted platform (§6).
    slug: Mapped[str] = mapped_column(String(57), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=now)


class Stage(Base):
    __tablename__ = "stages"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(default=now)


class Flow(Base):
    """A flow's draft: the document the editor saves, with a revision for optimistic locking."""

    __tablename__ = "flows"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    project_id: Mapped[str] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(1000))
    document: Mapped[dict[str, Any]]
    revision: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=now)
    updated_at: Mapped[datetime] = mapped_column(default=now)


class FlowVersion(Base):
    """An immutable snapshot of a flow, compiled to one bundle."""

    __tablename__ = "flow_versions"
    __table_args__ = (UniqueConstraint("flow_id", "number"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    flow_id: Mapped[str] = mapped_column(ForeignKey("flows.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    document: Mapped[dict[str, Any]]
    bundle_id: Mapped[str] = mapped_column(String(64))
    author_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    note: Mapped[str] = mapped_column(String(1000), default="")
    created_at: Mapped[datetime] = mapped_column(default=now)


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (Index("ix_runs_flow_created", "flow_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    flow_id: Mapped[str] = mapped_column(ForeignKey("flows.id", ondelete="CASCADE"))
    version_id: Mapped[str | None] = mapped_column(
        ForeignKey("flow_versions.id", ondelete="SET NULL")
    )
    stage: Mapped[str | None] = mapped_column(String(20))
    trigger: Mapped[str] = mapped_column(String(20), default="manual")
    trigger_node: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(12), default="queued", index=True)
    bundle_id: Mapped[str] = mapped_column(String(64))
    # A draft run keeps the document it ran, so it can be resumed after a restart.
    document: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    input: Mapped[Any] = mapped_column(JSON, nullable=True)
    seeds: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    result: Mapped[Any] = mapped_column(JSON, nullable=True)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    parent_run_id: Mapped[str | None] = mapped_column(String(32))
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_by: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=now)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class RunEventRow(Base):
    """One engine event of one run: append-only, ordered by ``seq`` within the run."""

    __tablename__ = "run_events"
    __table_args__ = (UniqueConstraint("run_id", "seq"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(40))
    node_id: Mapped[str | None] = mapped_column(String(200))
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    ts: Mapped[float] = mapped_column(Double)


class Secret(Base):
    __tablename__ = "secrets"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=now)
    updated_at: Mapped[datetime] = mapped_column(default=now)


class KvEntry(Base):
    """The durable key-value store nodes reach through ``ctx.kv`` (one namespace per flow)."""

    __tablename__ = "kv_entries"
    __table_args__ = (UniqueConstraint("namespace", "key"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    namespace: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(500))
    value: Mapped[Any] = mapped_column(JSON, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(default=now)


class Publication(Base):
    """One flow version put on one stage of its project (ARCHITECTURE.md §6).

    A row is never changed after it is made, except to end it: ``active`` goes to false
    (with ``unpublished_at``) when another version of the flow takes the stage or the flow
    is unpublished. At most one row of a flow and a stage is active; the rows of a stage
    are its publication history.
    """

    __tablename__ = "publications"
    __table_args__ = (
        Index("ix_publications_stage_active", "stage_id", "active"),
        Index("ix_publications_flow_stage", "flow_id", "stage_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    stage_id: Mapped[str] = mapped_column(ForeignKey("stages.id", ondelete="CASCADE"))
    # The stage's name, kept beside its id: stage names never change, and listings show it.
    stage: Mapped[str] = mapped_column(String(20))
    flow_id: Mapped[str] = mapped_column(ForeignKey("flows.id", ondelete="CASCADE"))
    version_id: Mapped[str] = mapped_column(ForeignKey("flow_versions.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    bundle_id: Mapped[str] = mapped_column(String(64))
    # publish, rollback or promote: how the version got there, for the history.
    action: Mapped[str] = mapped_column(String(10), default="publish")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    published_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    published_at: Mapped[datetime] = mapped_column(default=now)
    unpublished_at: Mapped[datetime | None]


class RouteEntry(Base):
    """A route of a publication: one ``trigger.webhook`` node of the published version.

    ``params`` is the node's whole params object (auth, CORS, rate limit, timeout, and
    whatever the node gains later), so the router needs nothing but this row.
    """

    __tablename__ = "route_entries"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    publication_id: Mapped[str] = mapped_column(
        ForeignKey("publications.id", ondelete="CASCADE"), index=True
    )
    node_id: Mapped[str] = mapped_column(String(200))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(2000))
    mode: Mapped[str] = mapped_column(String(10), default="sync")
    params: Mapped[dict[str, Any]]


class ScheduleEntry(Base):
    """A schedule of a publication: one ``trigger.schedule`` node of the published version.
    Firing them is the scheduler's (its own issue); publishing only records them."""

    __tablename__ = "schedule_entries"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    publication_id: Mapped[str] = mapped_column(
        ForeignKey("publications.id", ondelete="CASCADE"), index=True
    )
    node_id: Mapped[str] = mapped_column(String(200))
    cron: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(100), default="UTC")
    params: Mapped[dict[str, Any]]


class ScheduleState(Base):
    """What the scheduler keeps of one schedule, across publications (docs/scheduler.md).

    A schedule is a ``trigger.schedule`` node of a flow on a stage: republishing the flow
    makes new ``ScheduleEntry`` rows, but the same (stage, flow, node) keeps this row, so
    pausing and the firing cursor survive it. The id is derived from that triple
    (``scheduling.schedule_id``), so it is known before the row exists. A firing's run and
    the move of ``checked_through`` commit in one transaction.
    """

    __tablename__ = "schedule_states"
    __table_args__ = (UniqueConstraint("stage_id", "flow_id", "node_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    stage_id: Mapped[str] = mapped_column(ForeignKey("stages.id", ondelete="CASCADE"))
    flow_id: Mapped[str] = mapped_column(ForeignKey("flows.id", ondelete="CASCADE"))
    node_id: Mapped[str] = mapped_column(String(200))
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    paused_at: Mapped[datetime | None]
    paused_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Every fire time up to and including this one is decided (fired or skipped).
    checked_through: Mapped[datetime | None]
    last_fired_at: Mapped[datetime | None]
    last_run_id: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(default=now)


__all__ = [
    "ROLES",
    "RUN_STATUSES",
    "TOKEN_KINDS",
    "ApiToken",
    "Base",
    "Flow",
    "FlowVersion",
    "KvEntry",
    "Membership",
    "Project",
    "Publication",
    "RouteEntry",
    "Run",
    "RunEventRow",
    "ScheduleEntry",
    "ScheduleState",
    "Secret",
    "Stage",
    "User",
    "Workspace",
]
