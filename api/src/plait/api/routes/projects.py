"""Routes of the `projects` tag."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["projects"])
