"""Routes of the `nodes` tag: the node catalogue."""

from __future__ import annotations

from fastapi import APIRouter

from ..deps import CurrentPrincipal, PlatformDep
from ..schemas.common import error_responses
from ..schemas.nodes import Catalogue

router = APIRouter(tags=["nodes"], responses=error_responses(401))


# Unset optional keys stay out, so the body is exactly the registry's catalogue document.
@router.get("/nodes", name="list", summary="List node types", response_model_exclude_unset=True)
def list_nodes(platform: PlatformDep, _: CurrentPrincipal) -> Catalogue:
    """Every installed node type, as the editor needs it to draw ports and forms: its
    params as JSON Schema, its typed input and output ports, and whether it is a trigger;
    plus the port types and which of them fit which. It is generated from the node
    classes (a node is never described twice) and is the same for every workspace."""
    return Catalogue.model_validate(platform.registry.catalogue())
