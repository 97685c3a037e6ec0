"""The flow document (ARCHITECTURE.md §3): model, JSON Schema and canonical form.

The canonical text of a flow is JSON with sorted keys, 2-space indent, defaults left
out and a trailing newline, so ``dump_flow(load_flow(text)) == text`` for any canonical
``text``. Lists keep their order: edge order is the order of a multi-edge input's values.
"""

from __future__ import annotations

import json
import math
import re
from typing import Annotated, Any, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    ValidationError,
    model_validator,
)

from .errors import FlowError

SCHEMA_VERSION: Final = 1
MAX_FLOW_BYTES = 16 * 1024 * 1024

EdgeKind = Literal["data", "tool", "memory", "model"]
JoinMode = Literal["all", "any", "first"]
OnError = Literal["stop", "continue", "error_port"]
Backoff = Literal["fixed", "exponential"]

# Error kinds that retry by default (ARCHITECTURE.md §5): HTTP 5xx and 429, timeouts,
# connection errors. ``kind:NNN``/``kind:Nxx`` entries match an error's status.
DEFAULT_RETRY_ON: tuple[str, ...] = ("http_status:5xx", "http_status:429", "timeout", "connection")

Id = Annotated[str, Field(min_length=1, max_length=200)]


class _Model(BaseModel):
    # Non-finite numbers can only come from documents built in Python (JSON text cannot
    # hold them); the validator reports them with their exact place, and dump_flow refuses.
    model_config = ConfigDict(extra="forbid", frozen=True)


JsonObject = dict[str, JsonValue]


class Position(_Model):
    x: float = 0
    y: float = 0


class RetryPolicy(_Model):
    """How a node is retried. The delay is a pure function of (attempt, policy)."""

    max_attempts: int = Field(1, ge=1, le=100)
    backoff: Backoff = "fixed"
    delay_s: float = Field(1.0, ge=0, le=86400)
    max_delay_s: float = Field(300.0, ge=0, le=86400)
    jitter: float = Field(0.0, ge=0, le=1)
    retry_on: tuple[str, ...] = DEFAULT_RETRY_ON


class FlowNode(_Model):
    id: Id
    type: str = Field(min_length=1, max_length=200)
    version: int = Field(1, ge=1)
    title: str | None = Field(None, max_length=1000)
    position: Position = Position()
    params: JsonObject = Field(default_factory=dict)
    retry: RetryPolicy = RetryPolicy()
    timeout_s: float | None = Field(None, gt=0, le=7 * 86400)
    on_error: OnError = "stop"
    join: JoinMode | None = None
    meta: JsonObject = Field(default_factory=dict)


class FlowEdge(_Model):
    id: Id
    source: Id
    source_port: str = Field(min_length=1, max_length=200)
    target: Id
    target_port: str = Field(min_length=1, max_length=200)
    kind: EdgeKind = "data"


class Flow(_Model):
    """A flow document. Semantic checks (types, cycles, references) are in ``validation``."""

    schema_version: Literal[1] = SCHEMA_VERSION
    name: str = Field(min_length=1, max_length=1000)
    description: str | None = Field(None, max_length=100_000)
    nodes: list[FlowNode] = Field(default_factory=list, max_length=20_000)
    edges: list[FlowEdge] = Field(default_factory=list, max_length=100_000)
    timeout_s: float | None = Field(None, gt=0, le=30 * 86400)
    max_concurrency: int = Field(16, ge=1, le=1024)
    meta: JsonObject = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _schema_version_first(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("schema_version", SCHEMA_VERSION) != SCHEMA_VERSION:
            raise ValueError(
                f"unsupported schema_version {data.get('schema_version')!r}: "
                f"this Plait reads version {SCHEMA_VERSION}"
            )
        return data

    def node(self, node_id: str) -> FlowNode | None:
        for n in self.nodes:
            if n.id == node_id:
                return n
        return None


def flow_json_schema() -> dict[str, Any]:
    """The published JSON Schema of the flow document."""
    schema = Flow.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://plait.dev/schemas/flow-v1.json"
    return schema


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def check_unicode(doc: Any) -> None:
    """Refuse strings that cannot be written as UTF-8 (lone surrogates)."""
    try:
        json.dumps(doc, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise FlowError(
            "flow holds a lone surrogate (an unpaired \\ud800-\\udfff escape), "
            "which is not valid Unicode text"
        ) from None
    except ValueError:
        pass  # non-finite numbers: reported by validation


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(text: str | bytes, *, what: str = "flow", max_bytes: int = MAX_FLOW_BYTES) -> Any:
    """Parse JSON strictly (no NaN/Infinity), with a size limit and a one-line error."""
    size = len(text)
    if size > max_bytes:
        raise FlowError(f"{what} is {size} bytes; the limit is {max_bytes} bytes")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise FlowError(f"{what} is nested too deeply to read") from None
    except UnicodeDecodeError as exc:
        raise FlowError(f"{what} is not valid UTF-8: {exc.reason} at byte {exc.start}") from None
    except ValueError as exc:
        if isinstance(exc, json.JSONDecodeError):
            raise FlowError(
                f"{what} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
            ) from None
        raise FlowError(f"{what} is not valid JSON: {exc}") from None


def format_validation_error(exc: ValidationError, limit: int = 5) -> str:
    parts = []
    for err in exc.errors()[:limit]:
        loc_parts = [str(p) for p in err["loc"]]
        if len(loc_parts) > 8:  # deeply nested values: keep the message readable
            loc_parts = [*loc_parts[:4], "…", *loc_parts[-3:]]
        loc = ".".join(loc_parts) or "(document)"
        parts.append(f"{loc}: {err['msg']}")
    more = len(exc.errors()) - limit
    if more > 0:
        parts.append(f"... and {more} more")
    return "; ".join(parts)


def load_flow(data: str | bytes | dict[str, Any]) -> Flow:
    """A flow from JSON text or a parsed document; ``FlowError`` with a clear message if not."""
    doc = parse_json(data) if isinstance(data, str | bytes) else data
    if not isinstance(doc, dict):
        raise FlowError("a flow document must be a JSON object")
    # JSON text can spell a lone surrogate ("\ud800"), which no UTF-8 file can hold. Text
    # without a \uD8..-\uDF.. escape cannot contain one, so only such text is checked.
    if not isinstance(data, str | bytes) or _SURROGATE_ESCAPE.search(
        data if isinstance(data, str) else data.decode("utf-8", "replace")
    ):
        check_unicode(doc)
    try:
        return Flow.model_validate(doc)
    except ValidationError as exc:
        raise FlowError(f"not a valid flow document: {format_validation_error(exc)}") from None
    except RecursionError:
        raise FlowError("flow document is nested too deeply") from None


def flow_to_dict(flow: Flow) -> dict[str, Any]:
    """The flow as plain JSON data, defaults left out."""
    data: dict[str, Any] = flow.model_dump(mode="json", exclude_defaults=True)
    data["schema_version"] = SCHEMA_VERSION  # always explicit, even though it is the default
    data.setdefault("nodes", [])
    data.setdefault("edges", [])
    for node in data["nodes"]:
        node.setdefault("version", 1)  # explicit too: a node type is (type, version)
    return data


def canonical_json(value: Any) -> str:
    """Sorted keys, 2-space indent, UTF-8 text, trailing newline."""
    return json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def compact_json(value: Any) -> str:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def dump_flow(flow: Flow) -> str:
    """The canonical text of a flow."""
    try:
        return canonical_json(flow_to_dict(flow))
    except ValueError:
        raise FlowError("flow holds a non-finite number (NaN or Infinity); JSON cannot") from None


def is_finite_json(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(is_finite_json(v) for v in value.values())
    if isinstance(value, list):
        return all(is_finite_json(v) for v in value)
    return True
