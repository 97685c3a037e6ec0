"""Routes of the `workspaces` tag."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["workspaces"])
