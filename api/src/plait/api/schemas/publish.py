"""Publications: flow versions put on stages, with their routes and schedules."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .common import MAX_INT, Page, RequestBody, Resource, UtcDateTime
from .projects import STAGE_MAX, STAGE_PATTERN

StageField = Annotated[
    str,
    Field(
        max_length=STAGE_MAX,
        pattern=STAGE_PATTERN,
        description="A stage of the flow's project.",
        examples=["prod"],
    ),
]
VersionNumber = Annotated[int, Field(ge=1, le=MAX_INT, description="A version number.")]


class PublishRequest(RequestBody):
    stage: StageField
    version: VersionNumber | None = Field(
        None,
        description="The version to publish; when none is given, a new version is cut from "
        "the saved draft first.",
    )


class RollbackRequest(RequestBody):
    version: VersionNumber = Field(
        description="An earlier version, once published on this stage, to publish again."
    )


class PromoteRequest(RequestBody):
    from_stage: StageField = "dev"
    to_stage: StageField = "prod"


class PublishedRoute(Resource):
    method: str
    path: str = Field(description="The path pattern, e.g. `/orders/{id:int}`.")
    url: str = Field(
        description="Where the route answers: `http://{slug}-{stage}.{base domain}:{router "
        "port}{path}` (path variables left as they are in the pattern)."
    )
    node_id: str = Field(description="The `trigger.webhook` node it starts runs at.")
    mode: str = Field(description="`sync` (answers with the flow's response) or `async` (202).")


class PublishedSchedule(Resource):
    node_id: str = Field(description="The `trigger.schedule` node it starts runs at.")
    cron: str
    timezone: str


class PublicationPublic(Resource):
    id: str
    project_id: str
    stage: str
    flow_id: str
    flow_name: str
    version: int = Field(description="The number of the published version.")
    bundle_id: str
    action: Literal["publish", "rollback", "promote"] = Field(
        description="How the version got on the stage."
    )
    active: bool = Field(
        description="True while this is what the stage serves for the flow; false once "
        "another version replaced it or the flow was unpublished."
    )
    published_by: str | None = Field(description="The user who published; null for a token.")
    published_at: UtcDateTime
    unpublished_at: UtcDateTime | None
    routes: list[PublishedRoute]
    schedules: list[PublishedSchedule]


class PublicationPage(Page[PublicationPublic]):
    pass
