"""Projects as plain files: ``plait export`` and ``plait import``, and the sample project.

An export is a directory meant for git::

    DIR/project.json            {"format": 1, "name", "slug", "stages", "flows": [file, ...]}
    DIR/flows/<flow-name>.json  one canonical flow document per flow (``dump_flow``)

Everything in it is canonical JSON (sorted keys, 2-space indent, trailing newline) and the
flow files are named after the flows (slugified and de-duplicated in name order), so
exporting the same project twice gives the same bytes, and a diff shows what changed.
Secrets are never exported: not their values, not their names.

Importing creates the project (with its stages) or updates it, and creates or updates its
flows by name (a flow's name is its document's ``name``); flows of the project that the
export does not hold are left alone. An update that changes a flow's document bumps its
revision, as an editor save does. Rows are made through the services, so an import obeys
the same rules as the API.

These functions take a session and ``flush``; the caller owns the transaction.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .db.models import Flow, Project, Stage, Workspace

EXPORT_FORMAT = 1
PROJECT_FILE = "project.json"
FLOWS_DIR = "flows"
DEFAULT_STAGES = ("dev", "prod")
SAMPLE_SLUG = "sample"
SAMPLE_NAME = "Sample"

_FILE_STEM_MAX_CHARS = 60


class PortabilityError(Exception):
    """An export or import that cannot be done; the message is one line saying why."""


# -- names ------------------------------------------------------------------------------


def slugify(text: str, *, max_chars: int = _FILE_STEM_MAX_CHARS) -> str:
    """A lowercase ASCII slug of ``text``: ``"Greet (v2)!"`` → ``"greet-v2"``."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:max_chars].rstrip("-")


def flow_file_names(names: Sequence[str]) -> list[str]:
    """One file name per flow name, in the same order: slugified, then de-duplicated.

    ``["Hello", "hello!", "???"]`` → ``["hello.json", "hello-2.json", "flow.json"]``.
    Deterministic for a given list, so the caller must pass the names in a stable order.
    """
    taken: set[str] = set()
    out = []
    for name in names:
        stem = slugify(name) or "flow"
        candidate, n = stem, 1
        while candidate in taken:
            n += 1
            candidate = f"{stem}-{n}"
        taken.add(candidate)
        out.append(f"{candidate}.json")
    return out


def check_slug(slug: str) -> str:
    """``slug`` if it is a valid project slug; ``PortabilityError`` saying why not."""
    from .schemas.projects import SLUG_MAX, SLUG_PATTERN

    if len(slug) > SLUG_MAX or not re.match(SLUG_PATTERN, slug):
        raise PortabilityError(
            f"{slug!r} is not a valid project slug: use 1 to {SLUG_MAX} lowercase"
            " letters, digits and inner dashes (it becomes part of a host name)"
        )
    return slug


def check_stage(name: str) -> str:
    from .schemas.projects import STAGE_MAX, STAGE_PATTERN

    if len(name) > STAGE_MAX or not re.match(STAGE_PATTERN, name):
        raise PortabilityError(
            f"{name!r} is not a valid stage name: use 1 to {STAGE_MAX} lowercase letters and digits"
        )
    return name


# -- the canonical documents ----------------------------------------------------------------


def canonical_flow_document(document: Any, *, what: str) -> dict[str, Any]:
    """The canonical form of a flow document (defaults left out, ids kept)."""
    from plait.node_runner.errors import FlowError
    from plait.node_runner.flow import flow_to_dict, load_flow

    try:
        return flow_to_dict(load_flow(document))
    except FlowError as exc:
        raise PortabilityError(f"{what}: {exc}") from None


def _flow_text(document: dict[str, Any]) -> str:
    """The text of a stored draft as it goes into an export file.

    A draft that no longer loads as a flow (saved by an older Plait, say) is still
    exported, as canonical JSON of what is stored, rather than lost.
    """
    from plait.node_runner.errors import FlowError
    from plait.node_runner.flow import canonical_json, dump_flow, load_flow

    try:
        return dump_flow(load_flow(document))
    except FlowError:
        return canonical_json(document)


# -- database helpers (also used to seed the sample project) ---------------------------------


def project_by_slug(session: Session, slug: str) -> Project | None:
    return session.scalar(select(Project).where(Project.slug == slug))


def default_workspace(session: Session) -> Workspace:
    """The first workspace (the one ``plait serve`` made on its first start); made when none."""
    workspace = session.scalar(select(Workspace).order_by(Workspace.created_at, Workspace.id))
    if workspace is None:
        workspace = Workspace(name="default")
        session.add(workspace)
        session.flush()
    return workspace


def ensure_project(
    session: Session, workspace_id: str, *, name: str, slug: str, stages: Iterable[str]
) -> tuple[Project, bool]:
    """The project with ``slug`` in this workspace, made (or renamed) to match; and whether
    it was made. Missing stages are added; extra ones are kept (they may hold publishes)."""
    from .errors import ApiError
    from .services import projects

    check_slug(slug)
    project = project_by_slug(session, slug)
    created = project is None
    try:
        if project is None:
            project = projects.create(session, workspace_id, name=name, slug=slug)
        elif project.workspace_id != workspace_id:
            # Slugs are unique across the installation, like subdomains (ARCHITECTURE.md §6).
            raise PortabilityError(
                f"the project slug {slug!r} is taken by another workspace; import under"
                " another slug with --slug NEW"
            )
        elif project.name != name:
            projects.rename(session, project, name)
        have = {stage.name for stage in projects.list_stages(session, project)}
        for stage in stages:
            if stage not in have:
                projects.create_stage(session, project, check_stage(stage))
                have.add(stage)
    except ApiError as exc:
        raise PortabilityError(exc.message) from None
    return project, created


@dataclass
class FlowChanges:
    """What an import did to a project's flows, by flow name."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def upsert_flows(
    session: Session, project: Project, documents: Sequence[dict[str, Any]]
) -> FlowChanges:
    """Create or update the project's flows by name from canonical documents.

    When several flows share a name, the n-th one given matches the n-th existing one
    (oldest first), so an export of such a project still round-trips.
    """
    from .services import flows

    existing: dict[str, list[Flow]] = defaultdict(list)
    for row in session.scalars(
        select(Flow).where(Flow.project_id == project.id).order_by(Flow.created_at, Flow.id)
    ):
        existing[row.name].append(row)
    changes = FlowChanges()
    for document in documents:
        name = document["name"]
        matches = existing.get(name)
        if not matches:
            # One at a time: creation order is what orders same-named flows.
            flows.create(session, project, document)
            changes.created.append(name)
            continue
        row = matches.pop(0)
        if row.document == document:
            changes.unchanged.append(name)
            continue
        flows.update_draft(session, row, document, row.revision)
        changes.updated.append(name)
    session.flush()
    return changes


# -- export ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportResult:
    project: str
    directory: Path
    files: list[str]
    removed: list[str]


def export_project(session: Session, slug: str, directory: Path) -> ExportResult:
    """Write the project ``slug`` into ``directory`` (see the module docstring).

    ``directory`` must be missing, empty, or an earlier export (it holds a
    ``project.json``); in the last case flow files that no longer belong are removed,
    so the directory mirrors the project.
    """
    from plait.node_runner.flow import canonical_json

    project = project_by_slug(session, slug)
    if project is None:
        known = ", ".join(sorted(session.scalars(select(Project.slug)))[:10]) or "none yet"
        raise PortabilityError(f"no project {slug!r}; the projects are: {known}")
    _check_export_dir(directory)

    stages = sorted(session.scalars(select(Stage.name).where(Stage.project_id == project.id)))
    # Sorted here, not by the database, whose collation differs between SQLite and
    # PostgreSQL: the file names must not depend on where the project lives.
    rows = sorted(
        session.scalars(select(Flow).where(Flow.project_id == project.id)),
        key=lambda row: (row.name, _utc(row.created_at), row.id),
    )
    files = flow_file_names([row.name for row in rows])
    manifest = {
        "format": EXPORT_FORMAT,
        "name": project.name,
        "slug": project.slug,
        "stages": stages,
        "flows": [f"{FLOWS_DIR}/{file}" for file in files],
    }
    flows_dir = directory / FLOWS_DIR
    try:
        flows_dir.mkdir(parents=True, exist_ok=True)
        removed = sorted(
            p.name for p in flows_dir.glob("*.json") if p.is_file() and p.name not in set(files)
        )
        for name in removed:
            (flows_dir / name).unlink()
        for row, file in zip(rows, files, strict=True):
            _write_if_changed(flows_dir / file, _flow_text(row.document))
        _write_if_changed(directory / PROJECT_FILE, canonical_json(manifest))
    except OSError as exc:
        raise PortabilityError(f"cannot write to {directory}: {exc.strerror or exc}") from None
    return ExportResult(project.slug, directory, [f"{FLOWS_DIR}/{f}" for f in files], removed)


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; rows made in this session keep their zone.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _check_export_dir(directory: Path) -> None:
    if directory.exists() and not directory.is_dir():
        raise PortabilityError(f"{directory} exists and is not a directory")
    if directory.is_dir() and any(directory.iterdir()) and not (directory / PROJECT_FILE).exists():
        raise PortabilityError(
            f"{directory} is not empty and holds no {PROJECT_FILE}; export into a new or"
            " empty directory, or into an earlier export of the project"
        )


def _write_if_changed(path: Path, text: str) -> None:
    """Write ``text`` unless the file already holds it (keeps mtimes and git status calm)."""
    data = text.encode("utf-8")
    if path.is_file() and path.read_bytes() == data:
        return
    path.write_bytes(data)


# -- import ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProjectExport:
    """An export directory, read and checked; ``flows`` are canonical documents."""

    name: str
    slug: str
    stages: list[str]
    flows: list[dict[str, Any]]


def read_export(directory: Path) -> ProjectExport:
    """Read and check an export directory; ``PortabilityError`` names the first problem."""
    from plait.node_runner.errors import FlowError
    from plait.node_runner.flow import parse_json

    manifest_path = directory / PROJECT_FILE
    if not directory.is_dir():
        raise PortabilityError(f"no such directory: {directory}")
    if not manifest_path.is_file():
        raise PortabilityError(
            f"{directory} holds no {PROJECT_FILE}; give a directory written by `plait export`"
        )
    try:
        manifest = parse_json(manifest_path.read_bytes(), what=str(manifest_path))
    except (FlowError, OSError) as exc:
        raise PortabilityError(str(exc)) from None
    if not isinstance(manifest, dict):
        raise PortabilityError(f"{manifest_path} must hold a JSON object")
    fmt = manifest.get("format", EXPORT_FORMAT)
    if fmt != EXPORT_FORMAT:
        raise PortabilityError(
            f"{manifest_path} is export format {fmt!r}; this Plait reads format {EXPORT_FORMAT}"
        )
    slug = _string_field(manifest, "slug", manifest_path)
    name = manifest.get("name", slug)
    if not isinstance(name, str) or not name.strip():
        raise PortabilityError(f"{manifest_path}: 'name' must be a non-empty string")
    stages = manifest.get("stages", list(DEFAULT_STAGES))
    if not isinstance(stages, list) or not all(isinstance(s, str) for s in stages):
        raise PortabilityError(f"{manifest_path}: 'stages' must be a list of stage names")
    for stage in stages:
        check_stage(stage)

    files = manifest.get("flows")
    if files is None:
        # A hand-written project.json may leave the list out: every file in flows/ counts.
        files = [f"{FLOWS_DIR}/{p.name}" for p in sorted((directory / FLOWS_DIR).glob("*.json"))]
    if not isinstance(files, list) or not all(isinstance(f, str) and f for f in files):
        raise PortabilityError(f"{manifest_path}: 'flows' must be a list of relative file paths")
    root = directory.resolve()
    flows = []
    for file in files:
        path = (directory / file).resolve()
        if not path.is_relative_to(root):
            raise PortabilityError(f"{manifest_path}: {file!r} is outside {directory}")
        try:
            document = parse_json(path.read_bytes(), what=file)
        except FileNotFoundError:
            raise PortabilityError(f"{file} is listed in {PROJECT_FILE} but missing") from None
        except (FlowError, OSError) as exc:
            raise PortabilityError(str(exc)) from None
        flows.append(canonical_flow_document(document, what=file))
    return ProjectExport(name=name, slug=slug, stages=stages, flows=flows)


def _string_field(manifest: dict[str, Any], key: str, path: Path) -> str:
    value = manifest.get(key)
    if not isinstance(value, str) or not value:
        raise PortabilityError(f"{path}: {key!r} must be a non-empty string")
    return value


@dataclass(frozen=True)
class ImportResult:
    project: str
    workspace: str
    created: bool
    flows: FlowChanges


def import_project(
    session: Session,
    export: ProjectExport,
    *,
    workspace: str | None = None,
    slug: str | None = None,
    max_flow_bytes: int | None = None,
) -> ImportResult:
    """Create or update the project of ``export`` in ``workspace`` (default: the first).

    The workspace is made when it does not exist yet. ``slug`` imports under another
    slug. ``max_flow_bytes`` is the server's limit on a flow document
    (``PLAIT_MAX_FLOW_BYTES``): an import cannot store what the API would refuse.
    """
    from .errors import ApiError
    from .services.auth import get_or_create_workspace
    from .services.flows import check_size

    if max_flow_bytes is not None:
        for document in export.flows:
            try:
                check_size(document, max_flow_bytes)
            except ApiError as exc:
                raise PortabilityError(f"flow {document['name']!r}: {exc.message}") from None
    ws = get_or_create_workspace(session, workspace) if workspace else default_workspace(session)
    project, created = ensure_project(
        session, ws.id, name=export.name, slug=slug or export.slug, stages=export.stages
    )
    changes = upsert_flows(session, project, export.flows)
    return ImportResult(project.slug, ws.name, created, changes)


# -- the sample project -----------------------------------------------------------------------


def seed_sample_project(
    session: Session, workspace_id: str, examples: Path
) -> tuple[Project, int] | None:
    """Make the project ``sample`` from the flow files in ``examples`` (``*.json``).

    Returns the project and its number of flows, or None when there are no example
    files or the slug is taken already (the sample is made once, never forced back).
    """
    files = sorted(examples.glob("*.json")) if examples.is_dir() else []
    if not files or project_by_slug(session, SAMPLE_SLUG) is not None:
        return None
    flows = [canonical_flow_document(path.read_bytes(), what=str(path)) for path in files]
    project, _ = ensure_project(
        session, workspace_id, name=SAMPLE_NAME, slug=SAMPLE_SLUG, stages=DEFAULT_STAGES
    )
    upsert_flows(session, project, flows)
    return project, len(flows)
