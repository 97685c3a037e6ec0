"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import text

from .. import __version__
from ..deps import PlatformDep

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    version: str
    database: str


@router.get("/health")
def check(platform: PlatformDep) -> Health:
    """Answers 200 when the API and its database answer."""
    with platform.db.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    return Health(status="ok", version=__version__, database=platform.db.engine.dialect.name)
