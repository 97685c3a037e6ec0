"""Workspaces, users, memberships, tokens, and the first-start bootstrap."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..crypto import hash_password, hash_token, new_token, verify_password
from ..db.models import ROLES, ApiToken, Membership, User, Workspace
from ..errors import ApiError

ROLE_RANK = {"viewer": 0, "editor": 1, "owner": 2}
LOGIN_LINK_TTL = timedelta(hours=24)


@dataclass(frozen=True)
class Principal:
    """Who is calling: a workspace, a role, and the user behind it if any."""

    workspace_id: str
    role: str
    user_id: str | None
    token_id: str
    kind: str

    def can(self, role: str) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[role]

    def require(self, role: str) -> None:
        if not self.can(role):
            raise ApiError(403, "forbidden", f"this needs the {role} role; you are {self.role}")


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:  # SQLite drops the zone
        return value.replace(tzinfo=UTC)
    return value


def authenticate(session: Session, token: str, *, kinds: tuple[str, ...]) -> Principal | None:
    """The principal of a bearer or session token, or None when it is unknown or expired."""
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if row is None or row.kind not in kinds:
        return None
    expires = _aware(row.expires_at)
    if expires is not None and expires <= datetime.now(UTC):
        return None
    return Principal(row.workspace_id, row.role, row.user_id, row.id, row.kind)


def get_or_create_workspace(session: Session, name: str) -> Workspace:
    workspace = session.scalar(select(Workspace).where(Workspace.name == name))
    if workspace is None:
        workspace = Workspace(name=name)
        session.add(workspace)
        session.flush()
    return workspace


def create_user(
    session: Session, email: str, *, name: str = "", password: str | None = None
) -> User:
    user = User(
        email=email.lower(), name=name, password_hash=hash_password(password) if password else None
    )
    session.add(user)
    session.flush()
    return user


def add_member(session: Session, workspace_id: str, user_id: str, role: str) -> Membership:
    if role not in ROLES:
        raise ApiError(422, "invalid", f"role must be one of {', '.join(ROLES)}")
    membership = Membership(workspace_id=workspace_id, user_id=user_id, role=role)
    session.add(membership)
    session.flush()
    return membership


def issue_token(
    session: Session,
    workspace_id: str,
    role: str,
    *,
    kind: str = "api",
    user_id: str | None = None,
    name: str = "",
    ttl: timedelta | None = None,
) -> tuple[str, ApiToken]:
    """A new token (returned once, in clear) and its stored row (hash only)."""
    token = new_token()
    row = ApiToken(
        workspace_id=workspace_id,
        user_id=user_id,
        kind=kind,
        name=name,
        role=role,
        token_hash=hash_token(token),
        expires_at=datetime.now(UTC) + ttl if ttl else None,
    )
    session.add(row)
    session.flush()
    return token, row


def password_login(session: Session, email: str, password: str) -> tuple[User, Membership]:
    user = session.scalar(select(User).where(User.email == email.lower()))
    if user is None or not user.password_hash or not verify_password(user.password_hash, password):
        raise ApiError(401, "unauthorized", "wrong email or password")
    membership = session.scalar(
        select(Membership).where(Membership.user_id == user.id).order_by(Membership.created_at)
    )
    if membership is None:
        raise ApiError(401, "unauthorized", "this user belongs to no workspace")
    return user, membership


def redeem_login_link(session: Session, token: str) -> Principal:
    """Exchange a one-time login link for its principal; the link is then spent."""
    principal = authenticate(session, token, kinds=("login",))
    if principal is None:
        raise ApiError(401, "unauthorized", "this login link is unknown, used or expired")
    row = session.get(ApiToken, principal.token_id)
    if row is not None:
        session.delete(row)
        session.flush()
    return principal


def bootstrap(session: Session) -> tuple[Workspace, User, str]:
    """First start: a workspace and its owner. Every start: a fresh one-time login link
    for the first owner, so a local install can always be opened from the terminal."""
    owner = session.scalar(
        select(User)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.role == "owner")
        .order_by(Membership.created_at)
    )
    if owner is None:
        workspace = get_or_create_workspace(session, "default")
        owner = create_user(session, "admin@localhost", name="Admin")
        add_member(session, workspace.id, owner.id, "owner")
    membership = session.scalar(
        select(Membership).where(Membership.user_id == owner.id).order_by(Membership.created_at)
    )
    assert membership is not None
    workspace = session.get(Workspace, membership.workspace_id)
    assert workspace is not None
    link, _ = issue_token(
        session, workspace.id, "owner", kind="login", user_id=owner.id, ttl=LOGIN_LINK_TTL
    )
    return workspace, owner, link
