"""Workspaces, their members and their API tokens."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .common import RequestBody, Resource, Text, UtcDateTime

Role = Literal["owner", "editor", "viewer"]

# Deliberately loose: one @, no spaces. Whether the address is real is the mail server's call.
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+$"


class WorkspacePublic(Resource):
    id: str
    name: str
    created_at: UtcDateTime
    role: Role = Field(description="The caller's role in this workspace.")


class MemberCreate(RequestBody):
    email: Text = Field(min_length=3, max_length=320, pattern=EMAIL_PATTERN)
    role: Role
    name: Text | None = Field(
        None, max_length=200, description="Used only when the email is not yet a user."
    )


class MemberUpdate(RequestBody):
    role: Role


class MemberPublic(Resource):
    user_id: str
    email: str
    name: str
    role: Role
    created_at: UtcDateTime = Field(description="When the user joined this workspace.")


class TokenCreate(RequestBody):
    name: Text = Field(min_length=1, max_length=200, description="What the token is for.")
    role: Role = "editor"
    expires_in_days: int | None = Field(
        None, ge=1, le=3650, description="Leave out for a token that does not expire."
    )


class TokenPublic(Resource):
    id: str
    name: str
    role: Role
    user_id: str | None = Field(description="The user who created it, if any.")
    created_at: UtcDateTime
    expires_at: UtcDateTime | None
    last_used_at: UtcDateTime | None


class TokenCreated(TokenPublic):
    token: str = Field(description="The bearer token. It is shown only this once.")
