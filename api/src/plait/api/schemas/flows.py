"""Flows (the editor's drafts), their validation and the compile preview."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from plait.node_runner.validation import Problem

from .common import MAX_INT, Page, RequestBody, Resource, Text, UtcDateTime

FLOW_SCHEMA = "https://plait.dev/schemas/flow-v1.json"
_DOCUMENT = (
    f"A flow document ({FLOW_SCHEMA}, published in the repository as "
    "`docs/schemas/flow-v1.schema.json`)."
)


class FlowCreate(RequestBody):
    name: Text | None = Field(
        None,
        min_length=1,
        max_length=1000,
        description="The flow's name; it is written into the document's `name`. "
        "Leave out to use the document's own name.",
    )
    document: dict[str, Any] = Field(
        default_factory=lambda: {"nodes": [], "edges": []},
        description=f"{_DOCUMENT} It may be an unfinished draft that does not validate yet, "
        "but it must be a well-formed flow document. Leave out for an empty flow.",
    )


class FlowUpdate(RequestBody):
    document: dict[str, Any] = Field(description=f"{_DOCUMENT} The whole new draft.")
    revision: int = Field(
        ge=1,
        le=MAX_INT,
        description="The revision this draft was based on. When the flow has moved on since, "
        "the update is refused with 409 and `details.current_revision`.",
    )
    name: Text | None = Field(
        None, min_length=1, max_length=1000, description="A new name, written into the document."
    )


class FlowSummary(Resource):
    id: str
    project_id: str
    name: str
    revision: int = Field(description="Goes up by one with every accepted update.")
    created_at: UtcDateTime
    updated_at: UtcDateTime


class FlowPublic(FlowSummary):
    document: dict[str, Any] = Field(description=f"{_DOCUMENT} In canonical form.")


class FlowPage(Page[FlowSummary]):
    pass


class DocumentCheck(RequestBody):
    document: dict[str, Any] | None = Field(
        None, description=f"{_DOCUMENT} Leave out to use the flow's saved draft."
    )


class ValidationResult(BaseModel):
    valid: bool = Field(description="True when no problem is an error (warnings allowed).")
    problems: list[Problem] = Field(
        description="Every problem, in document order: flow-level, then per node, per edge."
    )


class CompilePreview(BaseModel):
    bundle_id: str = Field(description="SHA-256 of the bundle: the same flow, the same id.")
    flow_py: str = Field(description="The generated `flow.py`, for reading.")
    manifest: dict[str, Any] = Field(description="The bundle's `manifest.json`.")
    warnings: list[Problem] = Field(description="Problems that do not stop compiling.")
