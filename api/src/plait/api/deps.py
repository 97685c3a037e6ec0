"""FastAPI dependencies as ``Annotated`` aliases: the session, the platform, the caller."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from .errors import ApiError
from .platform import Platform
from .services.auth import Principal, authenticate

SESSION_COOKIE = "plait_session"


def get_platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


PlatformDep = Annotated[Platform, Depends(get_platform)]


def get_session(platform: PlatformDep) -> Iterator[Session]:
    """A session per request. Routes commit what they change; the rest is rolled back."""
    with platform.db.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def credential(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.cookies.get(SESSION_COOKIE)


def get_principal(request: Request, session: SessionDep) -> Principal:
    token = credential(request)
    if not token:
        raise ApiError(
            401, "unauthorized", "log in, or send an API token as 'Authorization: Bearer <token>'"
        )
    principal = authenticate(session, token, kinds=("api", "session"))
    if principal is None:
        raise ApiError(401, "unauthorized", "this token is unknown or expired")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def _role(role: str) -> object:
    def check(principal: CurrentPrincipal) -> Principal:
        principal.require(role)
        return principal

    return Depends(check)


# Callers who may change things (editor or owner) and who may administer (owner).
Editor = Annotated[Principal, _role("editor")]
Owner = Annotated[Principal, _role("owner")]
