"""Routes of the `workspaces` tag: the caller's workspace, its members and API tokens.

Everything here is about the workspace of the credential (``/workspaces/current``): a
token never names another workspace. Members and tokens are administered by owners.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from ..db.models import Membership, User
from ..deps import CurrentPrincipal, Owner, SessionDep
from ..schemas.common import ID_PATTERN, error_responses
from ..schemas.workspaces import (
    MemberCreate,
    MemberPublic,
    MemberUpdate,
    TokenCreate,
    TokenCreated,
    TokenPublic,
    WorkspacePublic,
)
from ..services import workspaces as service

router = APIRouter(tags=["workspaces"], responses=error_responses(401, 422))

UserId = Annotated[str, Path(pattern=ID_PATTERN, description="The member's user id.")]
TokenId = Annotated[str, Path(pattern=ID_PATTERN, description="The token's id.")]


def _member(membership: Membership, user: User) -> MemberPublic:
    return MemberPublic.model_validate(
        {
            "user_id": user.id,
            "email": user.email,
            "name": user.name,
            "role": membership.role,
            "created_at": membership.created_at,
        }
    )


@router.get("/workspaces/current", summary="Read the caller's workspace")
def read(principal: CurrentPrincipal, session: SessionDep) -> WorkspacePublic:
    """The workspace the credential belongs to, with the caller's role in it."""
    workspace = service.current(session, principal)
    return WorkspacePublic.model_validate(
        {
            "id": workspace.id,
            "name": workspace.name,
            "created_at": workspace.created_at,
            "role": principal.role,
        }
    )


@router.get("/workspaces/current/members", summary="List members")
def list_members(principal: CurrentPrincipal, session: SessionDep) -> list[MemberPublic]:
    """Every member of the workspace with their role, oldest member first. Any member may
    see who else is in the workspace."""
    return [_member(m, u) for m, u in service.list_members(session, principal.workspace_id)]


@router.post(
    "/workspaces/current/members",
    status_code=201,
    summary="Add a member",
    responses=error_responses(403, 409),
)
def add_member(body: MemberCreate, principal: Owner, session: SessionDep) -> MemberPublic:
    """Add a person by email with a role (`owner`, `editor` or `viewer`). An email that
    is not yet a user becomes one, with no password until they set one. Owners only;
    409 when they are already a member."""
    membership, user = service.add_member(
        session, principal.workspace_id, body.email, body.role, name=body.name
    )
    session.commit()
    return _member(membership, user)


@router.patch(
    "/workspaces/current/members/{user_id}",
    summary="Change a member's role",
    responses=error_responses(403, 404, 409),
)
def update_member(
    user_id: UserId, body: MemberUpdate, principal: Owner, session: SessionDep
) -> MemberPublic:
    """Change a member's role. Their browser sessions take the new role at once and their
    API tokens are capped at it. Owners only; the last owner cannot be demoted (409)."""
    membership, user = service.change_role(session, principal.workspace_id, user_id, body.role)
    session.commit()
    return _member(membership, user)


@router.delete(
    "/workspaces/current/members/{user_id}",
    status_code=204,
    summary="Remove a member",
    responses=error_responses(403, 404, 409),
)
def remove_member(user_id: UserId, principal: Owner, session: SessionDep) -> None:
    """Remove a member from the workspace and revoke every token and session of theirs in
    it. Owners only; the last owner cannot be removed (409)."""
    service.remove_member(session, principal.workspace_id, user_id)
    session.commit()


@router.get("/workspaces/current/tokens", summary="List API tokens", responses=error_responses(403))
def list_tokens(principal: Owner, session: SessionDep) -> list[TokenPublic]:
    """The workspace's API tokens, newest first: names, roles and times, never the
    tokens themselves (only their hashes are stored). Owners only."""
    return [
        TokenPublic.model_validate(t) for t in service.list_tokens(session, principal.workspace_id)
    ]


@router.post(
    "/workspaces/current/tokens",
    status_code=201,
    summary="Create an API token",
    responses=error_responses(403),
)
def create_token(body: TokenCreate, principal: Owner, session: SessionDep) -> TokenCreated:
    """Issue a bearer token for scripts and the CLI (`Authorization: Bearer <token>`).
    The response holds the token; it is shown only this once. Owners only."""
    token, row = service.create_token(
        session, principal, name=body.name, role=body.role, expires_in_days=body.expires_in_days
    )
    session.commit()
    return TokenCreated.model_validate(
        {**TokenPublic.model_validate(row).model_dump(), "token": token}
    )


@router.delete(
    "/workspaces/current/tokens/{token_id}",
    status_code=204,
    summary="Revoke an API token",
    responses=error_responses(403, 404),
)
def revoke_token(token_id: TokenId, principal: Owner, session: SessionDep) -> None:
    """Revoke an API token: it stops working at once. Owners only."""
    service.revoke_token(session, principal.workspace_id, token_id)
    session.commit()
