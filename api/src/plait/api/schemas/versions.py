"""Flow versions: immutable, numbered snapshots of a draft, each compiled to one bundle."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .common import Page, RequestBody, Resource, Text, UtcDateTime


class VersionCreate(RequestBody):
    note: Text = Field("", max_length=1000, description="What changed, for the history.")


class VersionSummary(Resource):
    id: str
    flow_id: str
    number: int = Field(description="1, 2, … in the order the versions were cut.")
    note: str
    bundle_id: str
    author_id: str | None = Field(description="The user who cut it; null for a token of no user.")
    created_at: UtcDateTime


class VersionPublic(VersionSummary):
    document: dict[str, Any] = Field(description="The flow document of this version.")


class VersionPage(Page[VersionSummary]):
    pass


class PatchOperation(BaseModel):
    """One RFC 6902 operation. ``value`` and ``from`` appear only for the ops that take them."""

    model_config = ConfigDict(populate_by_name=True)

    op: Literal["add", "remove", "replace", "move", "copy", "test"]
    path: str
    value: Any = None
    from_: str | None = Field(None, alias="from")
