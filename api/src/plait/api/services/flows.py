"""Flows: the editor's drafts, with optimistic locking, validation and compiling.

A draft may be unfinished (it need not validate), but it is always a well-formed flow
document, at most ``max_flow_bytes`` of JSON, stored in canonical form. Its ``name`` and
the document's ``name`` are one value. Every accepted update bumps ``revision`` by one; an
update based on an older revision is refused, so two editors never silently overwrite
each other.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from plait.node_runner.compiler import Bundle, build_bundle
from plait.node_runner.errors import FlowError
from plait.node_runner.flow import Flow as FlowDocument
from plait.node_runner.flow import flow_to_dict, load_flow
from plait.node_runner.registry import NodeRegistry
from plait.node_runner.validation import INVALID_DOCUMENT, Problem, has_errors, validate

from ..db.models import Flow, Project, now
from ..errors import ApiError, not_found
from .scoping import get_owned, owned

# -- documents -------------------------------------------------------------------------


def check_size(document: Any, max_bytes: int) -> None:
    """413 when the document's JSON is over ``max_bytes`` (UTF-8, without whitespace)."""
    try:
        text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    except RecursionError:
        raise ApiError(422, "invalid_document", "the flow document is nested too deeply") from None
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise ApiError(
            413,
            "too_large",
            f"the flow document is {size} bytes of JSON; the limit is {max_bytes} bytes",
            {"size": size, "limit": max_bytes},
        )


def _problems_body(problems: list[Problem]) -> dict[str, Any]:
    return {"problems": [p.model_dump() for p in problems]}


def _non_finite(value: Any, path: tuple[str | int, ...] = ()) -> Iterator[str]:
    if isinstance(value, float):
        if not math.isfinite(value):
            yield ".".join(str(p) for p in path) or "(document)"
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _non_finite(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _non_finite(item, (*path, i))


def load_document(
    document: Mapping[str, Any], registry: NodeRegistry, *, max_bytes: int
) -> FlowDocument:
    """The flow in ``document``, or 413 (too large) / 422 ``invalid_document`` with the
    located problems in ``details.problems``."""
    check_size(document, max_bytes)
    try:
        flow = load_flow(dict(document))
    except FlowError as exc:
        problems = [p for p in validate(document, registry) if p.code == INVALID_DOCUMENT]
        raise ApiError(422, "invalid_document", str(exc), _problems_body(problems)) from None
    # JSON text cannot carry NaN or Infinity, though Python's JSON reader accepts them.
    bad = [
        Problem(code=INVALID_DOCUMENT, message=f"{path}: not a finite JSON number", field=path)
        for path in _non_finite(document)
    ]
    if bad:
        raise ApiError(422, "invalid_document", bad[0].message, _problems_body(bad))
    return flow


def canonical(
    document: Mapping[str, Any],
    registry: NodeRegistry,
    *,
    max_bytes: int,
    name: str | None = None,
) -> dict[str, Any]:
    """The canonical form of a draft; ``name``, when given, replaces the document's."""
    if name is not None:
        document = {**document, "name": name}
    return flow_to_dict(load_document(document, registry, max_bytes=max_bytes))


def check(document: Mapping[str, Any], registry: NodeRegistry) -> list[Problem]:
    """Every problem with a document (which need not even be a flow yet)."""
    return validate(document, registry)


def compile_document(
    document: Mapping[str, Any], registry: NodeRegistry, *, max_bytes: int
) -> tuple[Bundle, list[Problem]]:
    """The bundle of a valid flow and its warnings; 422 ``invalid_flow`` with the problems
    in ``details.problems`` when it has errors."""
    flow = load_document(document, registry, max_bytes=max_bytes)
    problems = validate(flow, registry)
    if has_errors(problems):
        errors = [p for p in problems if p.severity == "error"]
        raise ApiError(
            422,
            "invalid_flow",
            f"the flow has {len(errors)} error(s); the first: {errors[0].message}",
            _problems_body(problems),
        )
    try:
        bundle = build_bundle(flow, registry)
    except FlowError as exc:
        raise ApiError(422, "invalid_flow", str(exc), _problems_body(problems)) from None
    return bundle, problems


# -- rows ------------------------------------------------------------------------------


def create(session: Session, project: Project, document: dict[str, Any]) -> Flow:
    """A new flow in ``project`` holding a canonical ``document`` (see ``canonical``)."""
    flow = Flow(
        workspace_id=project.workspace_id,
        project_id=project.id,
        name=document["name"],
        document=document,
        revision=1,
    )
    session.add(flow)
    session.flush()
    return flow


def get(session: Session, workspace_id: str, flow_id: str) -> Flow:
    return get_owned(session, Flow, flow_id, workspace_id, "flow")


def list_page(
    session: Session, project: Project, *, q: str | None, limit: int, offset: int
) -> tuple[list[Flow], int]:
    """A page of the project's flows by name; ``q`` keeps the names that contain it
    (case-insensitive)."""
    query = owned(Flow, project.workspace_id).where(Flow.project_id == project.id)
    if q:
        query = query.where(Flow.name.icontains(q, autoescape=True))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(func.lower(Flow.name), Flow.id).limit(limit).offset(offset)
    )
    return list(rows), total


def _stale(revision: int, current: int) -> ApiError:
    return ApiError(
        409,
        "conflict",
        f"the flow was changed after revision {revision} and is now at revision {current}; "
        "load it again and reapply your change",
        {"current_revision": current},
    )


def update_draft(session: Session, flow: Flow, document: dict[str, Any], revision: int) -> Flow:
    """Replace the draft with a canonical ``document`` when ``revision`` is still the
    current one; 409 ``conflict`` with ``details.current_revision`` otherwise."""
    if revision != flow.revision:
        raise _stale(revision, flow.revision)
    # Compare-and-set in one statement, so two concurrent updates of the same revision
    # cannot both win, on SQLite and PostgreSQL alike.
    result = session.execute(
        update(Flow)
        .where(Flow.id == flow.id, Flow.revision == revision)
        .values(
            document=document,
            name=document["name"],
            revision=Flow.revision + 1,
            updated_at=now(),
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        current = session.scalar(select(Flow.revision).where(Flow.id == flow.id))
        if current is None:  # deleted meanwhile
            raise not_found("flow")
        raise _stale(revision, current)
    session.refresh(flow)
    return flow


def delete(session: Session, flow: Flow) -> None:
    """Delete the flow with its versions and runs (the foreign keys cascade)."""
    session.delete(flow)
    session.flush()
