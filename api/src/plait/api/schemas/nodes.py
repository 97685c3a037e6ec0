"""The node catalogue: every node type the editor can place, as JSON Schema and ports."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class PortPublic(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = Field(description="Handle ids in the editor equal port names.")
    type: str = Field(description="One of the catalogue's `port_types`.")
    required: bool
    multi: bool = Field(False, description="Receives the list of all its active edges' values.")
    service: str | None = Field(None, description="`tool`, `memory` or `model` for service ports.")
    description: str | None = None


class NodeTypePublic(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str = Field(examples=["http.request"])
    version: int
    title: str
    category: str
    description: str
    idempotent: bool
    trigger: bool
    params_schema: dict[str, Any] = Field(description="JSON Schema of the node's `params`.")
    inputs: list[PortPublic]
    outputs: list[PortPublic]
    dynamic_outputs: dict[str, Any] | None = Field(
        None, description="How to derive more output ports from the params (e.g. switch cases)."
    )
    join_param: str | None = Field(None, description="The param that acts as the node's join.")


class Catalogue(BaseModel):
    catalogue_version: int
    port_types: list[str]
    fits: dict[str, list[str]] = Field(
        description="For each port type, the input port types a value of it may feed."
    )
    nodes: list[NodeTypePublic]
