"""Routes of the `nodes` tag."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["nodes"])
