"""Trigger nodes: where a run starts.

A trigger has no input ports. It turns the run's payload (``ctx.trigger_payload``:
what the router, the scheduler or a person handed to the run) into output ports.
Exactly one trigger fires per run; the engine leaves the others inactive.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    ValidationError,
    field_validator,
    model_validator,
)

from plait.node_runner.errors import KIND_INVALID_INPUTS, NodeError
from plait.node_runner.sdk import Node, NodeSpec, RunContext

HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


class ManualTrigger(Node):
    """Start a run by hand, from the editor, the CLI or the API.

    The run's input (any JSON value, ``null`` when none was given) comes out of
    ``payload`` unchanged.
    """

    spec = NodeSpec(
        type="trigger.manual",
        version=1,
        title="Manual trigger",
        category="triggers",
        idempotent=True,
        trigger=True,
    )

    class Outputs(BaseModel):
        payload: JsonValue = Field(default=None, description="The run's input.")

    async def run(self, inputs: BaseModel, ctx: RunContext) -> Outputs:
        return self.Outputs(payload=ctx.trigger_payload)


# -- webhook ------------------------------------------------------------------------

PATH_VARIABLE_TYPES = ("int", "uuid", "path")
_VARIABLE = re.compile(r"\{(?P<name>[^{}:]*)(?::(?P<type>[^{}]*))?\}")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# RFC 3986 path characters (pchar) minus the braces that mark variables.
_STATIC_SEGMENT = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@%-]+")


def _check_path_pattern(path: str) -> None:
    """Raise ``ValueError`` naming the first problem in a webhook path pattern.

    A pattern is ``/`` or ``/``-separated segments, each either static text or one
    whole variable: ``{name}``, ``{name:int}``, ``{name:uuid}``, or ``{name:path}``
    (the rest of the path, so only as the last segment). Whole-segment variables are
    what the router ranks segment by segment (ARCHITECTURE.md §6).
    """
    if not path.startswith("/"):
        raise ValueError(f"path must start with '/', got {path!r}")
    if path == "/":
        return
    segments = path[1:].split("/")
    seen: set[str] = set()
    for index, segment in enumerate(segments):
        if segment == "":
            raise ValueError(f"path {path!r} has an empty segment (a '//' or a trailing '/')")
        if "{" not in segment and "}" not in segment:
            if not _STATIC_SEGMENT.fullmatch(segment):
                raise ValueError(f"path segment {segment!r} has characters not allowed in a URL")
            continue
        match = _VARIABLE.fullmatch(segment)
        if match is None:
            raise ValueError(
                f"path segment {segment!r} must be static text or one whole variable"
                " such as {name} or {id:int}"
            )
        name, type_ = match["name"], match["type"]
        if not _IDENTIFIER.fullmatch(name):
            raise ValueError(
                f"path variable name {name!r} in {segment!r} must be an identifier"
                " (letters, digits and '_', not starting with a digit)"
            )
        if name in seen:
            raise ValueError(f"path variable {name!r} appears twice in {path!r}")
        seen.add(name)
        if type_ is not None and type_ not in PATH_VARIABLE_TYPES:
            raise ValueError(
                f"unknown path variable type {type_!r} in {segment!r};"
                f" use one of {', '.join(PATH_VARIABLE_TYPES)} or none"
            )
        if type_ == "path" and index != len(segments) - 1:
            raise ValueError(f"{segment!r} matches the rest of the path, so it must come last")


# A header name is an RFC 9110 token; anything else could smuggle a line into a response.
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# Names of project secrets, as the platform's secrets API accepts them.
_SECRET_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# An origin as browsers send it: scheme://host[:port], no path, no trailing slash.
_ORIGIN = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s?#]+")
MAX_WEBHOOK_TIMEOUT_S = 3600
# The most missed firings a schedule may ask to catch up on; the platform's
# PLAIT_SCHEDULER_CATCH_UP_MAX may lower it further.
MAX_CATCH_UP = 1000


def _header_name(value: str) -> str:
    if not _HEADER_NAME.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid HTTP header name (letters, digits, '-')")
    return value


def _secret_name(value: str) -> str:
    if not _SECRET_NAME.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a secret name: give the *name* of a project secret"
            " (letters, digits and '_', not starting with a digit), never its value"
        )
    return value


class _Strict(BaseModel):
    # A misspelt key (``allow_origin``) would otherwise be dropped silently, and a route
    # published with less protection than its author meant.
    model_config = ConfigDict(extra="forbid", frozen=True)


class NoAuth(_Strict):
    """Anyone who can reach the route may call it."""

    kind: Literal["none"] = "none"


class ApiKeyAuth(_Strict):
    """The request must carry the secret's value in ``header``."""

    kind: Literal["api_key"]
    header: str = Field(default="X-API-Key", description="Header that carries the key.")
    secret: str = Field(description="Name of the project secret holding the key.")

    @field_validator("header")
    @classmethod
    def _valid_header(cls, value: str) -> str:
        return _header_name(value)

    @field_validator("secret")
    @classmethod
    def _valid_secret(cls, value: str) -> str:
        return _secret_name(value)


class HmacAuth(_Strict):
    """The request must carry an HMAC-SHA256 of its body, keyed with the secret.

    The signature (hex, optionally prefixed ``sha256=``) is over ``{timestamp}.{body}``,
    where the timestamp is ``timestamp_header``'s value in Unix seconds; one further than
    ``tolerance_s`` from the router's clock is refused, so a captured request cannot be
    replayed later.
    """

    kind: Literal["hmac"]
    header: str = Field(default="X-Signature", description="Header that carries the signature.")
    secret: str = Field(description="Name of the project secret holding the signing key.")
    timestamp_header: str = Field(
        default="X-Timestamp", description="Header with the Unix time of signing."
    )
    tolerance_s: int = Field(
        default=300, ge=1, le=86_400, description="Largest accepted clock difference."
    )

    @field_validator("header")
    @classmethod
    def _valid_header(cls, value: str) -> str:
        return _header_name(value)

    @field_validator("secret")
    @classmethod
    def _valid_secret(cls, value: str) -> str:
        return _secret_name(value)

    @field_validator("timestamp_header")
    @classmethod
    def _valid_timestamp_header(cls, value: str) -> str:
        return _header_name(value)


WebhookAuth = Annotated[NoAuth | ApiKeyAuth | HmacAuth, Field(discriminator="kind")]


class WebhookCors(_Strict):
    """Cross-origin access for browsers calling the route from other sites."""

    allow_origins: list[str] = Field(
        min_length=1, description='Origins allowed, e.g. https://app.example.com; or ["*"].'
    )
    allow_methods: list[HttpMethod] | None = Field(
        default=None, description="Methods allowed; by default the route's method."
    )
    allow_headers: list[str] = Field(
        default_factory=list, description="Request headers a browser may send."
    )
    allow_credentials: bool = Field(default=False, description="Allow cookies and auth headers.")
    max_age_s: int = Field(
        default=600, ge=0, le=86_400, description="How long browsers may cache a preflight."
    )

    @field_validator("allow_origins")
    @classmethod
    def _valid_origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            if origin != "*" and not _ORIGIN.fullmatch(origin):
                raise ValueError(
                    f"{origin!r} is not an origin; write scheme://host[:port], such as"
                    ' https://app.example.com, with no path, or "*" for any'
                )
        return origins

    @field_validator("allow_headers")
    @classmethod
    def _valid_headers(cls, headers: list[str]) -> list[str]:
        return [_header_name(name) for name in headers]

    @model_validator(mode="after")
    def _credentials_need_named_origins(self) -> WebhookCors:
        # Browsers refuse credentialed answers with "Access-Control-Allow-Origin: *".
        if self.allow_credentials and "*" in self.allow_origins:
            raise ValueError(
                'allow_credentials needs the origins named; browsers refuse it with "*"'
            )
        return self


class WebhookRateLimit(_Strict):
    """At most ``requests`` requests every ``per_s`` seconds on the route (429 above)."""

    requests: int = Field(ge=1, le=1_000_000, description="Requests allowed per window.")
    per_s: float = Field(gt=0, le=86_400, description="Window length in seconds.")


class _WebhookRequest(BaseModel):
    """The request-shaped payload the router gives a webhook run; every key optional.

    Unknown keys are ignored so the router can add to the payload without breaking
    flows already published.
    """

    model_config = ConfigDict(extra="ignore")

    method: str | None = None
    path: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    query: dict[str, JsonValue] = Field(default_factory=dict)
    body: JsonValue = None
    path_params: dict[str, JsonValue] = Field(default_factory=dict)


class WebhookTrigger(Node):
    """Start a run when an HTTP request arrives on a published route.

    The route is ``method`` + ``path`` on the stage's host. ``path`` may hold
    variables that become ``path_params``: ``{name}`` (one segment of text),
    ``{id:int}``, ``{id:uuid}`` and, as the last segment, ``{rest:path}`` (the rest of
    the path, slashes included). In ``sync`` mode the first ``http.respond`` node the
    run reaches answers the request; in ``async`` mode the caller gets ``202`` with
    the run id at once. Header names come out lower-cased.
    """

    spec = NodeSpec(
        type="trigger.webhook",
        version=1,
        title="Webhook",
        category="triggers",
        idempotent=True,
        trigger=True,
    )

    class Params(BaseModel):
        # POST, because most webhook senders (payment, chat, git hosting) post events.
        method: HttpMethod = Field(default="POST", description="HTTP method of the route.")
        path: str = Field(
            description="Route path, e.g. /orders/{id:int}; variables are {name},"
            " {name:int}, {name:uuid} and a final {name:path}.",
            examples=["/hello/{name}"],
        )
        mode: Literal["sync", "async"] = Field(
            default="sync",
            description="sync: answer with the flow's http.respond; async: answer 202 at once.",
        )
        auth: WebhookAuth = Field(
            default_factory=NoAuth,
            description="none, api_key (a header holding a secret) or hmac (a signed body);"
            " secrets are named, never written here.",
        )
        cors: WebhookCors | None = Field(
            default=None, description="Cross-origin access for browsers; null for none."
        )
        rate_limit: WebhookRateLimit | None = Field(
            default=None, description="Requests allowed per window; null for no limit."
        )
        timeout_s: float = Field(
            default=30,
            gt=0,
            le=MAX_WEBHOOK_TIMEOUT_S,
            description="A sync request waits this long for the answer (then 504; the run"
            " goes on).",
        )

        @field_validator("path")
        @classmethod
        def _valid_pattern(cls, path: str) -> str:
            _check_path_pattern(path)
            return path

    params: Params

    class Outputs(BaseModel):
        body: JsonValue = Field(default=None, description="The request body (parsed JSON or text).")
        query: dict[str, JsonValue] = Field(default_factory=dict, description="Query parameters.")
        headers: dict[str, str] = Field(
            default_factory=dict, description="Request headers, names lower-cased."
        )
        path_params: dict[str, JsonValue] = Field(
            default_factory=dict, description="Values of the path's variables."
        )
        method: str = Field(description="The request's method.")
        path: str = Field(description="The request's path.")

    async def run(self, inputs: BaseModel, ctx: RunContext) -> Outputs:
        payload: Any = ctx.trigger_payload
        try:
            request = _WebhookRequest.model_validate(payload if payload is not None else {})
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, error['loc'])) or 'payload'}: {error['msg']}"
                for error in exc.errors()
            )
            raise NodeError(
                KIND_INVALID_INPUTS,
                "a webhook run's payload must be an object with optional keys method, path,"
                f" headers, query, body and path_params ({problems})",
            ) from None
        return self.Outputs(
            body=request.body,
            query=request.query,
            headers={name.lower(): value for name, value in request.headers.items()},
            path_params=request.path_params,
            method=(request.method or self.params.method).upper(),
            path=request.path or self.params.path,
        )


# -- schedule -----------------------------------------------------------------------

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


@dataclass(frozen=True)
class _CronField:
    """One field of a 5-field cron expression: its name, range and value names."""

    name: str
    low: int
    high: int
    names: Mapping[str, int] = field(default_factory=dict)

    def value(self, text: str) -> int:
        """The number ``text`` stands for in this field; ``ValueError`` when none."""
        number = self.names.get(text.upper())
        if number is not None:
            return number
        if not (text.isascii() and text.isdigit()):
            raise ValueError(f"{text!r} is not a number or a name in the {self.name} field")
        number = int(text)
        if not self.low <= number <= self.high:
            raise ValueError(
                f"{number} is out of range {self.low}-{self.high} in the {self.name} field"
            )
        return number


_CRON_FIELDS = (
    _CronField("minute", 0, 59),
    _CronField("hour", 0, 23),
    _CronField("day-of-month", 1, 31),
    _CronField("month", 1, 12, {name: i for i, name in enumerate(_MONTHS, start=1)}),
    # 0 and 7 are both Sunday, as in Vixie cron.
    _CronField("day-of-week", 0, 7, {name: i for i, name in enumerate(_WEEKDAYS)}),
)
_DAY_OF_MONTH, _DAY_OF_WEEK = _CRON_FIELDS[2], _CRON_FIELDS[4]


def _check_cron_item(item: str, cron_field: _CronField) -> None:
    # Besides the standard syntax, the extensions cronsim evaluates: "L" (the last
    # day of the month), "5L" (the last Friday) and "5#2" (the second Friday).
    if cron_field is _DAY_OF_MONTH and item.upper() == "L":
        return
    if cron_field is _DAY_OF_WEEK:
        if len(item) > 1 and item.upper().endswith("L"):
            cron_field.value(item[:-1])
            return
        if "#" in item:
            day, _, nth = item.partition("#")
            cron_field.value(day)
            if nth not in {"1", "2", "3", "4", "5"}:
                raise ValueError(f"in {item!r}, the week number after '#' must be 1 to 5")
            return
    base, slash, step = item.partition("/")
    if slash and not (step.isascii() and step.isdigit() and int(step) > 0):
        raise ValueError(f"step {step!r} in {item!r} must be a positive number")
    if base == "*":
        return
    low, dash, high = base.partition("-")
    start = cron_field.value(low)
    if dash and cron_field.value(high) < start:
        raise ValueError(f"range {base!r} runs backwards in the {cron_field.name} field")


def check_cron(expression: str) -> None:
    """Raise ``ValueError`` unless ``expression`` is a well-formed 5-field cron expression.

    Fields are minute, hour, day of month, month (1-12 or JAN-DEC) and day of week
    (0-7 or SUN-SAT, 0 and 7 both Sunday). Each is a comma-separated list of ``*``,
    values and ``a-b`` ranges, each optionally with a ``/step``. This checks the
    shape only; when the expression fires is the scheduler's business.

    Args:
        expression: The cron expression, fields separated by whitespace.

    Raises:
        ValueError: With a message naming the field and the item at fault.
    """
    texts = expression.split()
    if len(texts) != len(_CRON_FIELDS):
        raise ValueError(
            "a cron expression has 5 fields (minute hour day-of-month month day-of-week),"
            f" {expression!r} has {len(texts)}"
        )
    for text, cron_field in zip(texts, _CRON_FIELDS, strict=True):
        for item in text.split(","):
            if not item:
                raise ValueError(f"empty list item in the {cron_field.name} field {text!r}")
            _check_cron_item(item, cron_field)


class ScheduleTrigger(Node):
    """Start a run on a cron schedule.

    ``cron`` is a 5-field expression (minute, hour, day of month, month, day of week;
    e.g. ``0 9 * * MON-FRI`` for 9:00 on weekdays), read in ``timezone`` (an IANA name
    such as ``Europe/Paris``) so that schedules follow daylight-saving changes, as
    Debian cron does: a daily time that a change skips (02:30 when clocks jump from 2 to
    3) fires at the first minute after the jump, and one that a change repeats fires
    once, at its first occurrence; hourly and finer schedules fire at every real instant.
    ``fired_at`` is the time the firing was due, as ISO-8601 in UTC; ``fired_at_local``
    the same instant in ``timezone``.

    ``misfire`` says what happens to firings missed while no scheduler ran: ``skip``
    (the default) drops them, ``catch_up`` fires the ``catch_up_max`` most recent ones,
    oldest first (at most ``PLAIT_SCHEDULER_CATCH_UP_MAX`` whatever is set here). A
    firing late by ``misfire_grace_s`` or less is not missed.
    """

    spec = NodeSpec(
        type="trigger.schedule",
        version=1,
        title="Schedule",
        category="triggers",
        idempotent=True,
        trigger=True,
    )

    class Params(BaseModel):
        cron: str = Field(
            description="Minute, hour, day of month, month, day of week.",
            examples=["0 9 * * MON-FRI"],
        )
        timezone: str = Field(default="UTC", description="IANA time zone, e.g. Europe/Paris.")
        misfire: Literal["skip", "catch_up"] = Field(
            default="skip",
            description="Firings missed while no scheduler ran: skip them, or catch up on"
            " the most recent ones.",
        )
        catch_up_max: int = Field(
            default=10,
            ge=1,
            le=MAX_CATCH_UP,
            description="With catch_up, fire at most this many missed firings (oldest first).",
        )
        misfire_grace_s: int = Field(
            default=60,
            ge=0,
            le=86_400,
            description="A firing at most this many seconds late still fires; later, it"
            " counts as missed.",
        )

        @field_validator("cron")
        @classmethod
        def _valid_cron(cls, cron: str) -> str:
            check_cron(cron)
            return " ".join(cron.split())

        @field_validator("timezone")
        @classmethod
        def _known_timezone(cls, timezone: str) -> str:
            try:
                ZoneInfo(timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(
                    f"unknown time zone {timezone!r}; use an IANA name such as Europe/Paris"
                ) from None
            return timezone

    params: Params

    class Outputs(BaseModel):
        fired_at: str = Field(description="When the firing was due, ISO-8601 in UTC.")
        fired_at_local: str = Field(
            description="The same instant in the schedule's time zone, ISO-8601 with offset."
        )

    async def run(self, inputs: BaseModel, ctx: RunContext) -> Outputs:
        payload: Any = ctx.trigger_payload
        fired_at = payload.get("fired_at") if isinstance(payload, dict) else None
        if fired_at is None:  # run by hand: it fires now
            when = datetime.now(UTC)
        else:
            try:
                when = datetime.fromisoformat(str(fired_at))
            except ValueError:
                raise NodeError(
                    KIND_INVALID_INPUTS, f"fired_at {fired_at!r} is not an ISO-8601 date-time"
                ) from None
            # The scheduler works in UTC; a time without an offset is taken to be UTC.
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
        local = when.astimezone(ZoneInfo(self.params.timezone))
        return self.Outputs(
            fired_at=when.astimezone(UTC).isoformat(), fired_at_local=local.isoformat()
        )


NODES: list[type[Node]] = [ManualTrigger, WebhookTrigger, ScheduleTrigger]
