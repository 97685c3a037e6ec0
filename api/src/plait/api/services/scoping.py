"""Workspace scoping: every lookup of a tenant's row goes through here."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from ..errors import not_found

Row = TypeVar("Row")


def get_owned(session: Session, model: type[Row], row_id: str, workspace_id: str, what: str) -> Row:
    """The row with this id in this workspace; 404 otherwise (also for another workspace's
    ids, so their existence is not revealed)."""
    row = session.scalar(
        select(model).where(
            model.id == row_id,  # type: ignore[attr-defined]
            model.workspace_id == workspace_id,  # type: ignore[attr-defined]
        )
    )
    if row is None:
        raise not_found(what)
    return row


def owned(model: type[Any], workspace_id: str) -> Select[Any]:
    """``SELECT model WHERE workspace_id = …``: the start of every listing."""
    return select(model).where(model.workspace_id == workspace_id)
