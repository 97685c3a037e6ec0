"""Routes of the `secrets` tag."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["secrets"])
