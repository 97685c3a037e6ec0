"""Logging in, tokens, and what a missing credential gets."""

from __future__ import annotations

from typing import Any

from apikit import Api, client_for

from plait.api.services import auth


def test_health_needs_no_credential(api: Api) -> None:
    body = api.as_token(None).get("/api/health").json()
    assert body["status"] == "ok" and body["database"] == "sqlite"


def test_missing_or_bad_credentials_are_401_json(api: Api) -> None:
    for token in (None, "plt_nope", ""):
        response = api.as_token(token).get("/api/auth/me")
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"


def test_login_link_is_one_time_and_sets_an_http_only_cookie(platform: Any) -> None:
    with platform.db.session() as session:
        _, _, link = auth.bootstrap(session)
    with client_for(platform) as client:
        response = client.get(f"/api/auth/link?token={link}", follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/"
        assert "httponly" in response.headers["set-cookie"].lower()
        me = client.get("/api/auth/me").json()
        assert me["role"] == "owner" and me["email"] == "admin@localhost"
        again = client.get(f"/api/auth/link?token={link}", follow_redirects=False)
        assert again.status_code == 401
        assert client.post("/api/auth/logout").status_code == 204
        assert client.get("/api/auth/me").status_code == 401


def test_password_login(platform: Any) -> None:
    with platform.db.session() as session:
        workspace = auth.get_or_create_workspace(session, "pw")
        user = auth.create_user(session, "Ada@Example.com", password="correct horse")
        auth.add_member(session, workspace.id, user.id, "editor")
    with client_for(platform) as client:
        bad = client.post("/api/auth/login", json={"email": "ada@example.com", "password": "x"})
        assert bad.status_code == 401
        good = client.post(
            "/api/auth/login", json={"email": "ada@example.com", "password": "correct horse"}
        )
        assert good.status_code == 200 and good.json()["role"] == "editor"
        assert client.get("/api/auth/me").json()["workspace_name"] == "pw"


def test_bootstrap_creates_one_owner_once(platform: Any) -> None:
    with platform.db.session() as session:
        first = auth.bootstrap(session)
    with platform.db.session() as session:
        second = auth.bootstrap(session)
    assert first[0].id == second[0].id and first[1].id == second[1].id
    assert first[2] != second[2]  # a fresh link each start
