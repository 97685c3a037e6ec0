"""Run schemas: what the ``runs`` routes take and return."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, JsonValue

from .common import MAX_INT, RequestBody, Text

RunStatus = Literal["queued", "running", "succeeded", "failed", "timed_out", "cancelled"]
NodeId = Annotated[Text, Field(min_length=1, max_length=200)]
MAX_WAIT_S = 300.0


def _storable(value: JsonValue) -> JsonValue:
    """Refuse JSON that the databases cannot store as given: a lone surrogate (no UTF-8
    for it) anywhere in a key or a string."""
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("must be valid Unicode (it holds a lone surrogate)") from None
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return value


Json = Annotated[JsonValue, AfterValidator(_storable)]


class RunCreate(RequestBody):
    """Start a run of the flow's draft, or of one of its versions."""

    input: Json = Field(None, description="The run's input: the trigger's payload.")
    version: int | None = Field(
        None, ge=1, le=MAX_INT, description="Run this version; the draft if unset."
    )
    trigger: NodeId | None = Field(
        None, description="The trigger node that fires; by default the only or manual one."
    )
    from_node: NodeId | None = Field(
        None, description="Run this node and everything after it, fed by the pinned outputs."
    )
    pinned: dict[NodeId, dict[Text, Json]] = Field(
        default_factory=dict,
        description="Outputs of nodes that do not run: {node_id: {port: value}}.",
    )
    wait_s: float | None = Field(
        None, ge=0, le=MAX_WAIT_S, description="Wait up to this long for the run to end."
    )


class RunReplay(RequestBody):
    """Run a past run's input again, on a version or the draft."""

    version: int | None = Field(
        None, ge=1, le=MAX_INT, description="The version to run; the draft if unset."
    )
    wait_s: float | None = Field(None, ge=0, le=MAX_WAIT_S)


class RunPublic(BaseModel):
    id: str
    flow_id: str
    version: int | None = Field(description="The version run; null for a run of the draft.")
    kind: str = Field(description="How it started: manual, retry, replay, child, …")
    status: RunStatus
    trigger: str | None = Field(description="The trigger node that fired.")
    input: JsonValue
    result: JsonValue = Field(
        description="Outputs of the flow's last nodes, {node_id: {port: value}}; large"
        " values are blob references."
    )
    error: dict[str, JsonValue] | None
    parent_run_id: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class NodeState(BaseModel):
    status: str
    attempts: int
    inputs: dict[str, JsonValue] | None = Field(
        description="What the node was given, from its incoming edges (null until it runs)."
    )
    outputs: dict[str, JsonValue] | None
    error: dict[str, JsonValue] | None
    started_at: datetime | None
    finished_at: datetime | None


class RunDetail(RunPublic):
    nodes: dict[str, NodeState]


class RunPage(BaseModel):
    items: list[RunPublic]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


class RunEventPublic(BaseModel):
    run_id: str
    seq: int
    type: str
    node_id: str | None = None
    data: dict[str, JsonValue] = Field(default_factory=dict)
    ts: float


class RunEventPage(BaseModel):
    items: list[RunEventPublic]
    next_after_seq: int | None = Field(description="Pass as `after_seq` for the next page.")


class Signal(RequestBody):
    payload: Json = Field(None, description="What the waiting node gets.")


class SignalAccepted(BaseModel):
    run_id: str
    name: str


class NodeSide(BaseModel):
    status: str | None
    outputs: dict[str, JsonValue] | None


class NodeDiff(BaseModel):
    left: NodeSide
    right: NodeSide
    ports: list[str] = Field(description="Output ports whose values differ.")
    changed: bool


class RunDiff(BaseModel):
    run_id: str
    other_run_id: str
    changed: list[str] = Field(description="Nodes whose status or outputs differ.")
    nodes: dict[str, NodeDiff]
