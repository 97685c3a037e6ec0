"""Publishing: one flow version on one stage of its project, with its routes and schedules
(ARCHITECTURE.md §6).

A publication is made in one transaction: the flow's current publication on the stage
is ended, the new one is written with a route row per ``trigger.webhook`` node and a
schedule row per ``trigger.schedule`` node of the version's bundle, and the bundle is
in the blob store before any of it commits. Rollback and promotion are publications of
an existing version; unpublishing ends the active one. The history of a stage is its
publication rows, newest first.

Key contracts:

- At most one publication of a flow and a stage is active. Publishes of one stage are
  serialised by a write to the stage's row before anything is read, so two concurrent
  publishes cannot both pass the conflict check (PostgreSQL: a row lock; SQLite: the
  database's write lock).
- No two active routes of a stage are ones the router's ranking cannot order
  (``plait.router.routes.RouteTable``); such a publish is refused with 409
  ``route_conflict`` naming both routes and their flows.
- Routes and schedules are read from the bundle (``flow.json`` and the manifest), not
  from the draft, so what is published is exactly what runs.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from plait.node_runner.blobs import BlobNotFound
from plait.node_runner.compiler import Bundle
from plait.node_runner.errors import BundleError
from plait.node_runner.registry import NodeRegistry

from ..blobstores import NamedBlobStore
from ..bundles import has_bundle, load_bundle, save_bundle
from ..db.models import (
    Flow,
    FlowVersion,
    Project,
    Publication,
    RouteEntry,
    ScheduleEntry,
    Stage,
    now,
)
from ..errors import ApiError, not_found
from ..settings import Settings
from . import flows, projects, versions

ACTIONS = ("publish", "rollback", "promote")
WEBHOOK, SCHEDULE = "trigger.webhook", "trigger.schedule"


@dataclass(frozen=True)
class ActiveRoute:
    """A route the router serves: what ``active_routes`` gives the route source.

    ``params`` is the ``trigger.webhook`` node's params as published (``method``,
    ``path``, ``mode``, ``auth``, ``cors``, ``rate_limit``, ``timeout_s``, …).
    """

    route_id: str
    publication_id: str
    workspace_id: str
    project_id: str
    project_slug: str
    stage: str
    flow_id: str
    flow_name: str
    version: int
    version_id: str
    bundle_id: str
    node_id: str
    method: str
    path: str
    mode: str
    params: dict[str, Any]


@dataclass(frozen=True)
class PublicationView:
    """A publication with what its listings show: the flow's name, routes and schedules."""

    publication: Publication
    flow_name: str
    routes: list[RouteEntry]
    schedules: list[ScheduleEntry]


@dataclass(frozen=True)
class _Candidate:
    """A route being checked for conflicts, and who it belongs to (for the 409)."""

    method: str
    path: str
    node_id: str
    flow_id: str
    flow_name: str

    def describe(self) -> dict[str, str]:
        return {
            "flow_id": self.flow_id,
            "flow_name": self.flow_name,
            "node_id": self.node_id,
            "method": self.method,
            "path": self.path,
        }

    def __str__(self) -> str:
        return f"{self.method} {self.path} of flow {self.flow_name!r}"


# -- urls ------------------------------------------------------------------------------


def route_url(settings: Settings, project_slug: str, stage: str, path: str) -> str:
    """Where a published route answers: ``http://{slug}-{stage}.{base domain}:{port}{path}``
    (no port when the router's is 80, or 0: none configured)."""
    port = "" if settings.router_port in (0, 80) else f":{settings.router_port}"
    return f"http://{project_slug}-{stage}.{settings.base_domain}{port}{path}"


# -- publishing ------------------------------------------------------------------------


def publish(
    session: Session,
    flow: Flow,
    stage_name: str,
    *,
    registry: NodeRegistry,
    blobs: NamedBlobStore,
    user_id: str | None,
    max_bytes: int,
    version_number: int | None = None,
    action: str = "publish",
) -> PublicationView:
    """Put a version of ``flow`` on a stage of its project (a new version cut from the draft
    when ``version_number`` is None); flushes, never commits.

    Raises:
        ApiError: 404 unknown stage or version; 422 ``invalid_flow`` (a draft or version
            that does not validate) or ``invalid_route`` (a path pattern the router
            refuses); 409 ``route_conflict`` (a route the ranking cannot order against
            another active route of the stage).
    """
    project = projects.get(session, flow.workspace_id, flow.project_id)
    stage = projects.get_stage(session, project, stage_name)
    _lock_stage(session, stage)
    if version_number is None:
        version = versions.create(
            session,
            flow,
            registry,
            author_id=user_id,
            note=f"published on {stage.name}",
            max_bytes=max_bytes,
        )
    else:
        version = versions.get(session, flow, version_number)
    bundle = _stored_bundle(blobs, version, registry, max_bytes)
    routes, schedules = _triggers(bundle, registry)
    candidates = [
        _Candidate(r["method"], r["path"], r["node_id"], flow.id, flow.name) for r in routes
    ]
    _check_routes(candidates, _active_candidates(session, stage, except_flow=flow.id))

    _end_active(session, flow.id, stage.id)
    publication = Publication(
        workspace_id=flow.workspace_id,
        project_id=project.id,
        stage_id=stage.id,
        stage=stage.name,
        flow_id=flow.id,
        version_id=version.id,
        version=version.number,
        bundle_id=version.bundle_id,
        action=action,
        active=True,
        published_by=user_id,
        published_at=now(),
    )
    session.add(publication)
    session.flush()
    route_rows = [
        RouteEntry(
            workspace_id=flow.workspace_id,
            publication_id=publication.id,
            node_id=r["node_id"],
            method=r["method"],
            path=r["path"],
            mode=r["mode"],
            params=r["params"],
        )
        for r in routes
    ]
    schedule_rows = [
        ScheduleEntry(
            workspace_id=flow.workspace_id,
            publication_id=publication.id,
            node_id=s["node_id"],
            cron=s["cron"],
            timezone=s["timezone"],
            params=s["params"],
        )
        for s in schedules
    ]
    session.add_all([*route_rows, *schedule_rows])
    session.flush()
    return PublicationView(publication, flow.name, route_rows, schedule_rows)


def unpublish(session: Session, flow: Flow, stage_name: str) -> Publication:
    """End the flow's active publication on the stage; 404 when there is none."""
    project = projects.get(session, flow.workspace_id, flow.project_id)
    stage = projects.get_stage(session, project, stage_name)
    _lock_stage(session, stage)
    ended = _end_active(session, flow.id, stage.id)
    if ended is None:
        raise not_found(f"a publication of this flow on stage {stage.name!r}")
    return ended


def rollback(
    session: Session,
    flow: Flow,
    stage_name: str,
    version_number: int,
    *,
    registry: NodeRegistry,
    blobs: NamedBlobStore,
    user_id: str | None,
    max_bytes: int,
) -> PublicationView:
    """Publish again a version that was published on this stage before; 404 when it never
    was (a rollback goes back in the stage's history, it does not invent it)."""
    project = projects.get(session, flow.workspace_id, flow.project_id)
    stage = projects.get_stage(session, project, stage_name)
    seen = session.scalar(
        select(Publication.id)
        .where(
            Publication.workspace_id == flow.workspace_id,
            Publication.flow_id == flow.id,
            Publication.stage_id == stage.id,
            Publication.version == version_number,
        )
        .limit(1)
    )
    if seen is None:
        raise not_found(f"a publication of version {version_number} on stage {stage.name!r}")
    return publish(
        session,
        flow,
        stage.name,
        registry=registry,
        blobs=blobs,
        user_id=user_id,
        max_bytes=max_bytes,
        version_number=version_number,
        action="rollback",
    )


def promote(
    session: Session,
    flow: Flow,
    from_stage: str,
    to_stage: str,
    *,
    registry: NodeRegistry,
    blobs: NamedBlobStore,
    user_id: str | None,
    max_bytes: int,
) -> PublicationView:
    """Publish on ``to_stage`` the version that is active on ``from_stage``."""
    if from_stage == to_stage:
        raise ApiError(422, "invalid", "promote to another stage than the one it is on")
    project = projects.get(session, flow.workspace_id, flow.project_id)
    source = projects.get_stage(session, project, from_stage)
    active = _active(session, flow.id, source.id)
    if active is None:
        raise not_found(f"a publication of this flow on stage {source.name!r}")
    return publish(
        session,
        flow,
        to_stage,
        registry=registry,
        blobs=blobs,
        user_id=user_id,
        max_bytes=max_bytes,
        version_number=active.version,
        action="promote",
    )


# -- reading ---------------------------------------------------------------------------


def history(
    session: Session, project: Project, stage_name: str, *, limit: int, offset: int
) -> tuple[list[PublicationView], int]:
    """A page of the stage's publications, newest first."""
    stage = projects.get_stage(session, project, stage_name)
    query = select(Publication).where(
        Publication.workspace_id == project.workspace_id, Publication.stage_id == stage.id
    )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(Publication.published_at.desc(), Publication.id).limit(limit).offset(offset)
    )
    return _views(session, list(rows)), total


def active_publications(session: Session, project: Project) -> list[PublicationView]:
    """What every stage of the project serves now, by stage and flow name."""
    rows = session.scalars(
        select(Publication).where(
            Publication.workspace_id == project.workspace_id,
            Publication.project_id == project.id,
            Publication.active.is_(True),
        )
    )
    views = _views(session, list(rows))
    return sorted(views, key=lambda v: (v.publication.stage, v.flow_name.lower(), v.flow_name))


def active_routes(session: Session, project_slug: str, stage: str) -> list[ActiveRoute]:
    """Every route the stage ``stage`` of the project ``project_slug`` serves now, ordered
    by method, path and node (an unknown project or stage has none).

    This is what the router's route source builds a stage's table from. Project slugs are
    unique across the installation, so no workspace is needed to find the project; each
    route carries its ``workspace_id`` for the run it starts.
    """
    rows = session.execute(
        select(RouteEntry, Publication, Flow.name, Project.slug)
        .join(Publication, RouteEntry.publication_id == Publication.id)
        .join(Flow, Flow.id == Publication.flow_id)
        .join(Project, Project.id == Publication.project_id)
        .where(
            Project.slug == project_slug,
            Publication.stage == stage,
            Publication.active.is_(True),
        )
        .order_by(RouteEntry.method, RouteEntry.path, RouteEntry.node_id)
    )
    return [
        ActiveRoute(
            route_id=route.id,
            publication_id=pub.id,
            workspace_id=pub.workspace_id,
            project_id=pub.project_id,
            project_slug=slug,
            stage=pub.stage,
            flow_id=pub.flow_id,
            flow_name=flow_name,
            version=pub.version,
            version_id=pub.version_id,
            bundle_id=pub.bundle_id,
            node_id=route.node_id,
            method=route.method,
            path=route.path,
            mode=route.mode,
            params=dict(route.params),
        )
        for route, pub, flow_name, slug in rows
    ]


# -- helpers ---------------------------------------------------------------------------


def _lock_stage(session: Session, stage: Stage) -> None:
    # A write that changes nothing, so publishes of one stage take turns (see the module
    # docstring): a row lock on PostgreSQL, the write lock on SQLite.
    session.execute(
        update(Stage)
        .where(Stage.id == stage.id)
        .values(name=Stage.name)
        .execution_options(synchronize_session=False)
    )


def _active(session: Session, flow_id: str, stage_id: str) -> Publication | None:
    return session.scalar(
        select(Publication).where(
            Publication.flow_id == flow_id,
            Publication.stage_id == stage_id,
            Publication.active.is_(True),
        )
    )


def _end_active(session: Session, flow_id: str, stage_id: str) -> Publication | None:
    current = _active(session, flow_id, stage_id)
    if current is not None:
        current.active = False
        current.unpublished_at = now()
        session.flush()
    return current


def _stored_bundle(
    blobs: NamedBlobStore, version: FlowVersion, registry: NodeRegistry, max_bytes: int
) -> Bundle:
    """The version's bundle, saved in the blob store first when it is not there yet."""
    if not has_bundle(blobs, version.bundle_id):
        bundle, _ = flows.compile_document(version.document, registry, max_bytes=max_bytes)
        if bundle.id != version.bundle_id:
            # The compiler changed since the version was cut: its bundle is gone for good.
            raise ApiError(
                409,
                "bundle_missing",
                f"version {version.number}'s bundle is not in the blob store and its document "
                "now compiles to another bundle; cut a new version and publish that",
            )
        save_bundle(blobs, bundle)
    try:
        return load_bundle(blobs, version.bundle_id)
    except (BlobNotFound, BundleError) as exc:
        raise ApiError(
            409, "bundle_missing", f"version {version.number}'s bundle cannot be read: {exc}"
        ) from None


def _triggers(
    bundle: Bundle, registry: NodeRegistry
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The bundle's routes and schedules, each with its node's params as the node reads
    them (defaults filled in), so the router and the scheduler need no node defaults."""
    routes, schedules = [], []
    for node in bundle.flow.nodes:
        if node.type not in (WEBHOOK, SCHEDULE):
            continue
        cls = registry.get(node.type, node.version)
        model = getattr(cls, "Params", None)
        params: dict[str, Any] = (
            model.model_validate(node.params).model_dump(mode="json")
            if model is not None
            else dict(node.params)
        )
        if node.type == WEBHOOK:
            method = str(params.get("method", "POST")).upper()
            mode = str(params.get("mode", "sync"))
            routes.append(
                {
                    "node_id": node.id,
                    "method": method,
                    "path": str(params.get("path", "/")),
                    "mode": mode,
                    "params": params,
                }
            )
        else:
            schedules.append(
                {
                    "node_id": node.id,
                    "cron": str(params.get("cron", "")),
                    "timezone": str(params.get("timezone") or "UTC"),
                    "params": params,
                }
            )
    return routes, schedules


def _active_candidates(session: Session, stage: Stage, *, except_flow: str) -> list[_Candidate]:
    """The stage's active routes, but those of ``except_flow`` (which are being replaced)."""
    rows = session.execute(
        select(RouteEntry.method, RouteEntry.path, RouteEntry.node_id, Flow.id, Flow.name)
        .join(Publication, RouteEntry.publication_id == Publication.id)
        .join(Flow, Flow.id == Publication.flow_id)
        .where(
            Publication.stage_id == stage.id,
            Publication.active.is_(True),
            Publication.flow_id != except_flow,
        )
        .order_by(Flow.name, RouteEntry.method, RouteEntry.path)
    )
    return [_Candidate(*row) for row in rows]


def _check_routes(new: list[_Candidate], existing: list[_Candidate]) -> None:
    """422 for a route the router refuses (pattern, method), 409 for a pair it cannot
    order, whether against the stage's routes or between the flow's own."""
    from plait.router.routes import Route, RouteTable

    table = RouteTable()
    for candidate in existing:
        route = Route(candidate.method, candidate.path, target=candidate)
        if table.conflict(route) is None:  # the stage's routes never conflict; be lenient
            table.add(route)
    for candidate in new:
        try:
            route = Route(candidate.method, candidate.path, target=candidate)
        except ValueError as exc:  # PatternError is one
            raise ApiError(
                422, "invalid_route", f"route {candidate}: {exc}", {"route": candidate.describe()}
            ) from None
        clash = table.conflict(route)
        if clash is not None:
            other: _Candidate = clash.target
            raise ApiError(
                409,
                "route_conflict",
                f"route {candidate} cannot be told apart from {other}: same method and, "
                "segment by segment, the same kind of segment; change one of the paths",
                {"route": candidate.describe(), "conflicts_with": other.describe()},
            )
        table.add(route)


def _views(session: Session, rows: list[Publication]) -> list[PublicationView]:
    """Publications with their flows' names, routes and schedules, in three queries."""
    if not rows:
        return []
    ids = [p.id for p in rows]
    names = dict(
        session.execute(
            select(Flow.id, Flow.name).where(Flow.id.in_({p.flow_id for p in rows}))
        ).all()
    )
    routes: dict[str, list[RouteEntry]] = defaultdict(list)
    for route in session.scalars(
        select(RouteEntry)
        .where(RouteEntry.publication_id.in_(ids))
        .order_by(RouteEntry.method, RouteEntry.path, RouteEntry.node_id)
    ):
        routes[route.publication_id].append(route)
    schedules: dict[str, list[ScheduleEntry]] = defaultdict(list)
    for schedule in session.scalars(
        select(ScheduleEntry)
        .where(ScheduleEntry.publication_id.in_(ids))
        .order_by(ScheduleEntry.node_id)
    ):
        schedules[schedule.publication_id].append(schedule)
    return [
        PublicationView(p, names.get(p.flow_id, ""), routes[p.id], schedules[p.id]) for p in rows
    ]
