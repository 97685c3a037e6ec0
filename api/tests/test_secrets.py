"""Secrets: sealed at rest under the agreed context, never returned, never logged."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from apikit import Api, new_workspace
from cryptography.exceptions import InvalidTag
from sqlalchemy import select

from plait.api.db.models import Secret
from plait.api.runs.secrets import ProjectSecrets, secret_context
from plait.api.services import secrets as service

VALUE = "sk_live_do-not-leak-4242"


def new_project(api: Api) -> dict[str, Any]:
    project: dict[str, Any] = api.post("/api/projects", json={"name": "S", "slug": "s"}).json()
    return project


def test_create_list_update_delete_and_never_return_the_value(
    any_api: Api, any_platform: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    project = new_project(any_api)
    secrets = f"/api/projects/{project['id']}/secrets"
    created = any_api.post(secrets, json={"name": "STRIPE_KEY", "value": VALUE})
    assert created.status_code == 201
    assert set(created.json()) == {"id", "project_id", "name", "created_at", "updated_at"}
    any_api.post(secrets, json={"name": "A_FIRST", "value": "x"})
    listed = any_api.get(secrets)
    assert [s["name"] for s in listed.json()] == ["A_FIRST", "STRIPE_KEY"]

    updated = any_api.put(f"{secrets}/STRIPE_KEY", json={"value": VALUE + "-rotated"})
    assert updated.status_code == 200
    assert updated.json()["updated_at"] >= created.json()["updated_at"]
    # What a run sees: the run side opens the values under the same context.
    with any_platform.db.session() as session:
        run_secrets = ProjectSecrets.load(
            session, any_platform.secret_box, _workspace(any_api), project["id"]
        )
    assert run_secrets.names() == ["A_FIRST", "STRIPE_KEY"]
    assert run_secrets.get("STRIPE_KEY") == VALUE + "-rotated"

    for response in (created, listed, updated):
        assert VALUE not in response.text
    assert VALUE not in caplog.text

    assert any_api.delete(f"{secrets}/STRIPE_KEY").status_code == 204
    assert any_api.delete(f"{secrets}/STRIPE_KEY").status_code == 404
    assert any_api.put(f"{secrets}/STRIPE_KEY", json={"value": "x"}).status_code == 404
    assert [s["name"] for s in any_api.get(secrets).json()] == ["A_FIRST"]


def _workspace(api: Api) -> str:
    return str(api.get("/api/workspaces/current").json()["id"])


def test_values_are_sealed_under_workspace_project_and_name(api: Api, platform: Any) -> None:
    project = new_project(api)
    api.post(f"/api/projects/{project['id']}/secrets", json={"name": "TOKEN", "value": VALUE})
    workspace_id = _workspace(api)
    with platform.db.session() as session:
        row = session.scalar(select(Secret).where(Secret.name == "TOKEN"))
        assert row is not None and VALUE.encode() not in row.ciphertext
        box = platform.secret_box
        # The context is a contract with the run side, which opens the values for runs.
        context = f"{workspace_id}/{project['id']}/TOKEN"
        assert service.context(workspace_id, project["id"], "TOKEN") == context
        assert secret_context(workspace_id, project["id"], "TOKEN") == context
        assert box.open(row.ciphertext, context) == VALUE
        with pytest.raises(InvalidTag):  # a ciphertext moved to another name does not open
            box.open(row.ciphertext, f"{workspace_id}/{project['id']}/OTHER")


@pytest.mark.parametrize("name", ["1ABC", "with-dash", "sp ace", "", "x" * 201, "é"])
def test_names_are_identifiers(api: Api, name: str) -> None:
    project = new_project(api)
    response = api.post(f"/api/projects/{project['id']}/secrets", json={"name": name, "value": "v"})
    assert response.status_code == 422


def test_a_name_is_unique_within_its_project(api: Api) -> None:
    project = new_project(api)
    other = api.post("/api/projects", json={"name": "T", "slug": "t"}).json()
    secret = {"name": "KEY", "value": "v"}
    assert api.post(f"/api/projects/{project['id']}/secrets", json=secret).status_code == 201
    again = api.post(f"/api/projects/{project['id']}/secrets", json=secret)
    assert again.status_code == 409 and again.json()["error"]["details"] == {"field": "name"}
    assert api.post(f"/api/projects/{other['id']}/secrets", json=secret).status_code == 201


def test_a_refused_value_is_not_echoed(api: Api) -> None:
    project = new_project(api)
    huge = "s" * (64 * 1024 + 1)
    response = api.post(
        f"/api/projects/{project['id']}/secrets", json={"name": "BIG", "value": huge}
    )
    assert response.status_code == 422 and huge[:100] not in response.text
    surrogate = b'{"name": "S", "value": "\\ud800 secret"}'
    response = api.post(
        f"/api/projects/{project['id']}/secrets",
        content=surrogate,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422 and "secret" not in response.json()["error"]["message"]


def test_viewers_list_names_but_do_not_write(api: Api, platform: Any) -> None:
    project = new_project(api)
    secrets = f"/api/projects/{project['id']}/secrets"
    api.post(secrets, json={"name": "KEY", "value": VALUE})
    viewer = api.as_token(new_workspace(platform, "alpha", "viewer"))
    assert [s["name"] for s in viewer.get(secrets).json()] == ["KEY"]
    for response in (
        viewer.post(secrets, json={"name": "NEW", "value": "v"}),
        viewer.put(f"{secrets}/KEY", json={"value": "v"}),
        viewer.delete(f"{secrets}/KEY"),
    ):
        assert response.status_code == 403
    editor = api.as_token(new_workspace(platform, "alpha", "editor"))
    assert editor.put(f"{secrets}/KEY", json={"value": "v2"}).status_code == 200
