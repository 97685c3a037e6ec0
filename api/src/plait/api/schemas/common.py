"""Pieces every resource schema shares: errors, pages, timestamps, safe strings, ids."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

# Row ids are ``uuid4().hex`` (db/models.py): 32 lowercase hex digits. Path parameters
# declare it, so a malformed id is a 422 and never reaches the database.
ID_PATTERN = r"^[0-9a-f]{32}$"

# The largest integer a path, query or body field accepts: every one of them ends up
# compared with a 32-bit column, and SQLite refuses Python ints over 64 bits outright.
MAX_INT = 2**31 - 1
MAX_OFFSET = 1_000_000_000


def _utc(value: datetime) -> datetime:
    # SQLite drops the zone on the way back; every stored time is UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


UtcDateTime = Annotated[datetime, AfterValidator(_utc)]


def _storable(value: str) -> str:
    # PostgreSQL text cannot hold NUL, and a lone surrogate cannot be encoded as UTF-8:
    # refuse both here with a 422 rather than fail in the driver.
    if "\x00" in value:
        raise ValueError("must not contain the NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (it holds a lone surrogate)") from None
    return value


Text = Annotated[str, AfterValidator(_storable)]
"""A string that PostgreSQL and SQLite both store as given."""


class RequestBody(BaseModel):
    """Base of request bodies: an unknown field is an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class Resource(BaseModel):
    """Base of response models, built from database rows."""

    model_config = ConfigDict(from_attributes=True)


class ErrorInfo(BaseModel):
    code: str = Field(description="Stable, machine-readable: `not_found`, `conflict`, ….")
    message: str = Field(description="One sentence a person can act on.")
    details: Any = Field(None, description="Structured context; its shape depends on `code`.")


class ErrorResponse(BaseModel):
    """Every error the API returns has this shape."""

    error: ErrorInfo


_ERROR_DESCRIPTIONS = {
    400: "The request could not be read (a body that is not JSON).",
    401: "No credential, or an unknown or expired one.",
    403: "The caller's role does not allow this.",
    404: "No such resource in the caller's workspace.",
    409: "The request conflicts with the current state (a stale revision, a taken name).",
    413: "The request body or the flow document is over its size limit.",
    422: "The request is malformed, or the flow it names is invalid.",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for these error statuses, all ``ErrorResponse``.

    Declaring 422 also replaces FastAPI's default ``HTTPValidationError`` schema, which the
    API never sends (its validation errors are ``ErrorResponse`` too).
    """
    return {
        status: {"model": ErrorResponse, "description": _ERROR_DESCRIPTIONS[status]}
        for status in statuses
    }


Item = TypeVar("Item")


class Page(BaseModel, Generic[Item]):
    """One page of a listing: ``items`` in a stable order, and how many there are in all."""

    items: list[Item]
    total: int = Field(description="How many items match, over all pages.")
    limit: int
    offset: int
