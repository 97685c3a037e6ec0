"""Logging in: password, one-time login links, sessions as http-only cookies."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field

from ..db.models import User, Workspace
from ..deps import SESSION_COOKIE, CurrentPrincipal, PlatformDep, SessionDep
from ..errors import not_found
from ..schemas.common import error_responses
from ..services import auth as service

router = APIRouter(tags=["auth"], responses=error_responses(401, 422))


class LoginRequest(BaseModel):
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=1000)


class Me(BaseModel):
    workspace_id: str
    workspace_name: str
    role: str
    user_id: str | None
    email: str | None
    name: str | None
    kind: str


def _start_session(
    response: Response, platform: PlatformDep, session: SessionDep, principal: service.Principal
) -> None:
    days = platform.settings.session_days
    token, _ = service.issue_token(
        session,
        principal.workspace_id,
        principal.role,
        kind="session",
        user_id=principal.user_id,
        name="browser session",
        ttl=timedelta(days=days),
    )
    session.commit()
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=days * 86400,
        httponly=True,
        samesite="lax",
        secure=platform.settings.base_url.startswith("https://"),
        path="/",
    )


@router.post("/auth/login")
def login(body: LoginRequest, response: Response, platform: PlatformDep, session: SessionDep) -> Me:
    """Log in with email and password; sets the session cookie."""
    user, membership = service.password_login(session, body.email, body.password)
    principal = service.Principal(membership.workspace_id, membership.role, user.id, "", "session")
    _start_session(response, platform, session, principal)
    return _me(session, principal)


@router.get("/auth/link", response_class=RedirectResponse, status_code=303)
def redeem_link(token: str, platform: PlatformDep, session: SessionDep) -> RedirectResponse:
    """Open a one-time login link (printed by ``plait serve``): sets the session cookie and
    goes to the editor."""
    principal = service.redeem_login_link(session, token)
    response = RedirectResponse("/", status_code=303)
    _start_session(response, platform, session, principal)
    return response


@router.post("/auth/logout", status_code=204)
def logout(principal: CurrentPrincipal, session: SessionDep, response: Response) -> None:
    """End this session (or revoke this token)."""
    from ..db.models import ApiToken

    row = session.get(ApiToken, principal.token_id)
    if row is not None and row.kind == "session":
        session.delete(row)
        session.commit()
    response.delete_cookie(SESSION_COOKIE, path="/")


@router.get("/auth/me")
def me(principal: CurrentPrincipal, session: SessionDep) -> Me:
    """Who the credential belongs to."""
    return _me(session, principal)


def _me(session: SessionDep, principal: service.Principal) -> Me:
    workspace = session.get(Workspace, principal.workspace_id)
    if workspace is None:
        raise not_found("workspace")
    user = session.get(User, principal.user_id) if principal.user_id else None
    return Me(
        workspace_id=workspace.id,
        workspace_name=workspace.name,
        role=principal.role,
        user_id=user.id if user else None,
        email=user.email if user else None,
        name=user.name if user else None,
        kind=principal.kind,
    )
