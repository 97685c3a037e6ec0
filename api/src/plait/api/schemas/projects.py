"""Projects and their stages."""

from __future__ import annotations

from pydantic import Field

from .common import Page, RequestBody, Resource, Text, UtcDateTime

# A project's host label is ``{slug}-{stage}``: one DNS label of at most 63 characters.
DNS_LABEL_MAX = 63
SLUG_MAX = 57
SLUG_PATTERN = r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"
# No dash in a stage name: the router splits ``{project}-{stage}`` at the last dash.
STAGE_PATTERN = r"^[a-z0-9]+$"
STAGE_MAX = 20


class ProjectCreate(RequestBody):
    name: Text = Field(min_length=1, max_length=200)
    slug: str = Field(
        min_length=1,
        max_length=SLUG_MAX,
        pattern=SLUG_PATTERN,
        description="Lowercase letters, digits and inner dashes; unique across the "
        "installation, since it names the project's hosts (`{slug}-{stage}.<base domain>`). "
        "It cannot be changed later.",
        examples=["shop"],
    )


class ProjectUpdate(RequestBody):
    name: Text = Field(min_length=1, max_length=200)


class ProjectPublic(Resource):
    id: str
    name: str
    slug: str
    created_at: UtcDateTime


class ProjectPage(Page[ProjectPublic]):
    pass


class StageCreate(RequestBody):
    name: str = Field(
        min_length=1,
        max_length=STAGE_MAX,
        pattern=STAGE_PATTERN,
        description="Lowercase letters and digits, no dash.",
        examples=["staging"],
    )


class StagePublic(Resource):
    id: str
    project_id: str
    name: str
    created_at: UtcDateTime
