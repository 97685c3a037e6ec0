"""The caller's workspace, its members and its API tokens."""

from __future__ import annotations

from typing import Any

import pytest
from apikit import Api, new_workspace
from sqlalchemy import select

from plait.api.db.models import ApiToken
from plait.api.services import auth


def member_token(platform: Any, email: str, role: str, *, kind: str = "session") -> tuple[str, str]:
    """A user in workspace "alpha" with ``role``, and a token of theirs: (user id, token)."""
    with platform.db.session() as session:
        workspace = auth.get_or_create_workspace(session, "alpha")
        user = auth.create_user(session, email)
        auth.add_member(session, workspace.id, user.id, role)
        token, _ = auth.issue_token(session, workspace.id, role, kind=kind, user_id=user.id)
    return user.id, token


def test_current_workspace(any_api: Api, any_platform: Any) -> None:
    body = any_api.get("/api/workspaces/current").json()
    assert body["name"] == "alpha" and body["role"] == "owner"
    assert set(body) == {"id", "name", "created_at", "role"}
    viewer = any_api.as_token(new_workspace(any_platform, "alpha", "viewer"))
    assert viewer.get("/api/workspaces/current").json() == {**body, "role": "viewer"}
    assert any_api.as_token(None).get("/api/workspaces/current").status_code == 401


def test_add_members_by_email(any_api: Api) -> None:
    members = "/api/workspaces/current/members"
    added = any_api.post(
        members, json={"email": "Ada@Example.com", "role": "editor", "name": "Ada"}
    )
    assert added.status_code == 201
    ada = added.json()
    assert (ada["email"], ada["name"], ada["role"]) == ("ada@example.com", "Ada", "editor")
    any_api.post(members, json={"email": "bob@example.com", "role": "viewer"})
    assert [m["email"] for m in any_api.get(members).json()] == [
        "ada@example.com",
        "bob@example.com",
    ]
    again = any_api.post(members, json={"email": "ADA@example.com", "role": "viewer"})
    assert again.status_code == 409 and again.json()["error"]["details"] == {
        "user_id": ada["user_id"]
    }


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email", "role": "editor"},
        {"email": "a@b.c", "role": "admin"},
        {"email": "a@b.c"},
        {"email": "a\x00@b.c", "role": "editor"},
    ],
)
def test_bad_member_requests(api: Api, body: dict[str, Any]) -> None:
    assert api.post("/api/workspaces/current/members", json=body).status_code == 422


def test_a_user_may_belong_to_two_workspaces(api: Api, platform: Any) -> None:
    beta = api.as_token(new_workspace(platform, "beta"))
    body = {"email": "ada@example.com", "role": "editor"}
    one = api.post("/api/workspaces/current/members", json=body).json()
    two = beta.post("/api/workspaces/current/members", json=body).json()
    assert one["user_id"] == two["user_id"]
    assert [m["email"] for m in beta.get("/api/workspaces/current/members").json()] == [
        "ada@example.com"
    ]


def test_changing_a_role_reaches_the_members_tokens_at_once(
    any_api: Api, any_platform: Any
) -> None:
    user_id, session_token = member_token(any_platform, "ed@example.com", "editor")
    with any_platform.db.session() as session:
        workspace = auth.get_or_create_workspace(session, "alpha")
        api_token, _ = auth.issue_token(session, workspace.id, "editor", user_id=user_id)
    as_session, as_token = any_api.as_token(session_token), any_api.as_token(api_token)
    assert as_session.post("/api/projects", json={"name": "P", "slug": "p1"}).status_code == 201

    url = f"/api/workspaces/current/members/{user_id}"
    demoted = any_api.patch(url, json={"role": "viewer"})
    assert demoted.status_code == 200 and demoted.json()["role"] == "viewer"
    for api in (as_session, as_token):
        assert api.get("/api/auth/me").json()["role"] == "viewer"
        assert api.post("/api/projects", json={"name": "P", "slug": "p2"}).status_code == 403

    any_api.patch(url, json={"role": "owner"})
    # A session is the member, so it takes the new role; an API token keeps the role it was
    # issued with (capped, never raised).
    assert as_session.get("/api/auth/me").json()["role"] == "owner"
    assert as_token.get("/api/auth/me").json()["role"] == "viewer"


def test_removing_a_member_revokes_their_tokens(any_api: Api, any_platform: Any) -> None:
    user_id, token = member_token(any_platform, "ed@example.com", "editor", kind="api")
    member = any_api.as_token(token)
    assert member.get("/api/projects").status_code == 200
    assert any_api.delete(f"/api/workspaces/current/members/{user_id}").status_code == 204
    assert member.get("/api/projects").status_code == 401
    assert any_api.get("/api/workspaces/current/members").json() == []
    assert any_api.delete(f"/api/workspaces/current/members/{user_id}").status_code == 404


def test_the_last_owner_stays(any_api: Api, any_platform: Any) -> None:
    first, token = member_token(any_platform, "first@example.com", "owner")
    owner = any_api.as_token(token)
    members = "/api/workspaces/current/members"
    for response in (
        owner.patch(f"{members}/{first}", json={"role": "editor"}),
        owner.delete(f"{members}/{first}"),
    ):
        assert response.status_code == 409
        assert response.json()["error"]["details"] == {"reason": "last_owner"}
        assert "last owner" in response.json()["error"]["message"]
    second = owner.post(members, json={"email": "second@example.com", "role": "owner"}).json()
    # With two owners, one may step down; then the other is the last again.
    assert owner.patch(f"{members}/{first}", json={"role": "editor"}).status_code == 200
    assert any_api.delete(f"{members}/{second['user_id']}").status_code == 409


def test_members_are_administered_by_owners_only(api: Api, platform: Any) -> None:
    user_id, _ = member_token(platform, "v@example.com", "viewer")
    members = "/api/workspaces/current/members"
    for role in ("viewer", "editor"):
        other = api.as_token(new_workspace(platform, "alpha", role))
        assert other.get(members).status_code == 200  # any member sees who is in
        for response in (
            other.post(members, json={"email": "x@example.com", "role": "viewer"}),
            other.patch(f"{members}/{user_id}", json={"role": "editor"}),
            other.delete(f"{members}/{user_id}"),
        ):
            assert response.status_code == 403


def test_tokens_are_shown_once_and_can_be_revoked(any_api: Api) -> None:
    tokens = "/api/workspaces/current/tokens"
    created = any_api.post(tokens, json={"name": "ci", "role": "viewer", "expires_in_days": 30})
    assert created.status_code == 201
    body = created.json()
    assert body["token"].startswith("plt_") and body["role"] == "viewer"
    assert body["expires_at"] > body["created_at"]
    ci = any_api.as_token(body["token"])
    assert ci.get("/api/auth/me").json()["role"] == "viewer"

    listed = any_api.get(tokens)
    assert body["token"] not in listed.text
    entry = next(t for t in listed.json() if t["id"] == body["id"])
    assert entry == {k: v for k, v in body.items() if k != "token"}

    assert any_api.delete(f"{tokens}/{body['id']}").status_code == 204
    assert ci.get("/api/auth/me").status_code == 401
    assert any_api.delete(f"{tokens}/{body['id']}").status_code == 404
    assert body["id"] not in any_api.get(tokens).text


def test_sessions_are_not_api_tokens(api: Api, platform: Any) -> None:
    _, session_token = member_token(platform, "s@example.com", "owner")
    assert api.as_token(session_token).get("/api/auth/me").json()["kind"] == "session"
    with platform.db.session() as session:
        session_id = session.scalar(select(ApiToken.id).where(ApiToken.kind == "session"))
    assert session_id not in api.get("/api/workspaces/current/tokens").text
    assert api.delete(f"/api/workspaces/current/tokens/{session_id}").status_code == 404


def test_tokens_are_administered_by_owners_only(api: Api, platform: Any) -> None:
    editor = api.as_token(new_workspace(platform, "alpha", "editor"))
    tokens = "/api/workspaces/current/tokens"
    assert editor.get(tokens).status_code == 403
    assert editor.post(tokens, json={"name": "x"}).status_code == 403
    some = api.get(tokens).json()[0]["id"]
    assert editor.delete(f"{tokens}/{some}").status_code == 403
