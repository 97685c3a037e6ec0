"""The caller's workspace: its members and its API tokens.

A token carries its own role (``ApiToken.role``), fixed when it is issued, so a change of
membership is pushed to the member's tokens here: removing a member revokes every token
of theirs in the workspace, and changing a role re-caps them (sessions take the new role,
API tokens keep theirs but never above it).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db.models import ApiToken, Membership, User, Workspace
from ..errors import ApiError, not_found
from . import auth
from .auth import ROLE_RANK, Principal


def current(session: Session, principal: Principal) -> Workspace:
    workspace = session.get(Workspace, principal.workspace_id)
    if workspace is None:  # deleted under a live token
        raise not_found("workspace")
    return workspace


# -- members ---------------------------------------------------------------------------


def list_members(session: Session, workspace_id: str) -> list[tuple[Membership, User]]:
    """The workspace's members with their users, oldest member first."""
    rows = session.execute(
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.workspace_id == workspace_id)
        .order_by(Membership.created_at, Membership.id)
    )
    return [(m, u) for m, u in rows]


def get_member(session: Session, workspace_id: str, user_id: str) -> tuple[Membership, User]:
    row = session.execute(
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.workspace_id == workspace_id, Membership.user_id == user_id)
    ).first()
    if row is None:
        raise not_found("member")
    return row[0], row[1]


def add_member(
    session: Session, workspace_id: str, email: str, role: str, *, name: str | None = None
) -> tuple[Membership, User]:
    """Add the user with this email (made when new, with no password yet) to the workspace."""
    user = session.scalar(select(User).where(User.email == email.lower()))
    if user is None:
        user = auth.create_user(session, email, name=name or "")
    elif session.scalar(
        select(Membership.id).where(
            Membership.workspace_id == workspace_id, Membership.user_id == user.id
        )
    ):
        raise ApiError(
            409,
            "conflict",
            f"{user.email} is already a member; change their role instead",
            {"user_id": user.id},
        )
    membership = auth.add_member(session, workspace_id, user.id, role)
    return membership, user


def change_role(
    session: Session, workspace_id: str, user_id: str, role: str
) -> tuple[Membership, User]:
    membership, user = get_member(session, workspace_id, user_id)
    if membership.role == "owner" and role != "owner":
        _keep_an_owner(session, workspace_id, "demote")
    membership.role = role
    for token in _tokens_of(session, workspace_id, user_id):
        if token.kind != "api":
            token.role = role  # a browser session is the member, with the member's role
        elif ROLE_RANK[token.role] > ROLE_RANK[role]:
            token.role = role
    session.flush()
    return membership, user


def remove_member(session: Session, workspace_id: str, user_id: str) -> None:
    """Remove a member and revoke every token of theirs in this workspace."""
    membership, _ = get_member(session, workspace_id, user_id)
    if membership.role == "owner":
        _keep_an_owner(session, workspace_id, "remove")
    for token in _tokens_of(session, workspace_id, user_id):
        session.delete(token)
    session.delete(membership)
    session.flush()


def _keep_an_owner(session: Session, workspace_id: str, verb: str) -> None:
    # Lock the owners' rows (PostgreSQL), so two concurrent demotions cannot both pass.
    owners = session.scalars(
        select(Membership.id)
        .where(Membership.workspace_id == workspace_id, Membership.role == "owner")
        .with_for_update()
    ).all()
    if len(owners) <= 1:
        raise ApiError(
            409,
            "conflict",
            f"cannot {verb} the last owner of the workspace; make another member an owner first",
            {"reason": "last_owner"},
        )


def _tokens_of(session: Session, workspace_id: str, user_id: str) -> list[ApiToken]:
    return list(
        session.scalars(
            select(ApiToken).where(
                ApiToken.workspace_id == workspace_id, ApiToken.user_id == user_id
            )
        )
    )


# -- API tokens ------------------------------------------------------------------------


def list_tokens(session: Session, workspace_id: str) -> list[ApiToken]:
    """The workspace's API tokens (not browser sessions or login links), newest first."""
    return list(
        session.scalars(
            select(ApiToken)
            .where(ApiToken.workspace_id == workspace_id, ApiToken.kind == "api")
            .order_by(ApiToken.created_at.desc(), ApiToken.id)
        )
    )


def create_token(
    session: Session,
    principal: Principal,
    *,
    name: str,
    role: str,
    expires_in_days: int | None = None,
) -> tuple[str, ApiToken]:
    """A new API token (returned once, in clear) no stronger than its creator."""
    if not principal.can(role):
        raise ApiError(403, "forbidden", f"you cannot issue a {role} token as {principal.role}")
    return auth.issue_token(
        session,
        principal.workspace_id,
        role,
        kind="api",
        user_id=principal.user_id,
        name=name,
        ttl=timedelta(days=expires_in_days) if expires_in_days else None,
    )


def revoke_token(session: Session, workspace_id: str, token_id: str) -> None:
    token = session.scalar(
        select(ApiToken).where(
            ApiToken.id == token_id, ApiToken.workspace_id == workspace_id, ApiToken.kind == "api"
        )
    )
    if token is None:
        raise not_found("token")
    session.delete(token)
    session.flush()
