"""Flow versions: immutable snapshots of a draft, numbered 1, 2, … per flow.

A version is cut only from a draft that validates; it keeps the document and the id of
the bundle it compiles to (the bundle store arrives with publishing, which puts one
version on a stage). Versions are never changed; they go only with their flow.
"""

from __future__ import annotations

from typing import Any

import jsonpatch
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from plait.node_runner.registry import NodeRegistry

from ..db.models import Flow, FlowVersion
from ..errors import ApiError, not_found
from . import flows


def create(
    session: Session,
    flow: Flow,
    registry: NodeRegistry,
    *,
    author_id: str | None,
    note: str = "",
    max_bytes: int,
) -> FlowVersion:
    """Validate and compile the flow's draft and keep it as the next version; 422
    ``invalid_flow`` with the problems when the draft has errors."""
    bundle, _ = flows.compile_document(flow.document, registry, max_bytes=max_bytes)
    number = (
        session.scalar(select(func.max(FlowVersion.number)).where(FlowVersion.flow_id == flow.id))
        or 0
    ) + 1
    version = FlowVersion(
        workspace_id=flow.workspace_id,
        flow_id=flow.id,
        number=number,
        document=flow.document,
        bundle_id=bundle.id,
        author_id=author_id,
        note=note,
    )
    session.add(version)
    try:
        session.flush()
    except IntegrityError:  # another version of this flow took the number first
        session.rollback()
        raise ApiError(
            409, "conflict", "another version of this flow was cut at the same time; try again"
        ) from None
    return version


def list_page(
    session: Session, flow: Flow, *, limit: int, offset: int
) -> tuple[list[FlowVersion], int]:
    """A page of the flow's versions, newest first."""
    query = select(FlowVersion).where(
        FlowVersion.workspace_id == flow.workspace_id, FlowVersion.flow_id == flow.id
    )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(FlowVersion.number.desc()).limit(limit).offset(offset))
    return list(rows), total


def get(session: Session, flow: Flow, number: int) -> FlowVersion:
    version = session.scalar(
        select(FlowVersion).where(
            FlowVersion.workspace_id == flow.workspace_id,
            FlowVersion.flow_id == flow.id,
            FlowVersion.number == number,
        )
    )
    if version is None:
        raise not_found(f"version {number}")
    return version


def diff(session: Session, flow: Flow, a: int, b: int) -> list[dict[str, Any]]:
    """The RFC 6902 JSON patch that turns version ``a``'s document into version ``b``'s."""
    source, target = get(session, flow, a), get(session, flow, b)
    patch: list[dict[str, Any]] = jsonpatch.make_patch(source.document, target.document).patch
    return patch
