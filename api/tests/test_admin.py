"""``plait admin create-token``: a token on stdout, and nothing else, straight from the database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from apikit import Api, client_for
from servicekit import postgres_database
from sqlalchemy import func, select

from plait.api.db.models import ApiToken, Workspace
from plait.api.platform import Platform
from plait.api.settings import load_settings


def _platform(data_dir: Path, **settings: Any) -> Platform:
    return Platform(load_settings(data_dir=data_dir, **settings))


def _me(platform: Platform, token: str) -> Any:
    with client_for(platform) as client:
        return Api(client, token).get("/api/auth/me")


def test_it_prints_only_a_token_that_authenticates(cli: Any, data_dir: Path) -> None:
    result = cli("admin", "create-token", "--workspace", "acme")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("plt_")
    assert "workspace created" in result.stderr
    me = _me(_platform(data_dir), lines[0])
    assert me.status_code == 200
    assert me.json()["workspace_name"] == "acme" and me.json()["role"] == "owner"
    assert me.json()["kind"] == "api"


def test_an_existing_workspace_is_reused_with_the_role_and_label(cli: Any, data_dir: Path) -> None:
    first = cli("admin", "create-token", "-w", "acme").stdout.strip()
    second = cli("admin", "create-token", "-w", "acme", "--role", "viewer", "--name", "dashboards")
    assert second.exit_code == 0 and "workspace created" not in second.stderr
    platform = _platform(data_dir)
    with platform.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Workspace)) == 1
        row = session.scalar(select(ApiToken).where(ApiToken.name == "dashboards"))
        assert row is not None and row.role == "viewer"
        assert second.stdout.strip() not in (row.token_hash, first)  # only the hash is stored
    assert _me(platform, second.stdout.strip()).json()["role"] == "viewer"
    assert _me(platform, first).json()["role"] == "owner"


def test_a_viewer_token_cannot_edit(cli: Any, data_dir: Path) -> None:
    token = cli("admin", "create-token", "-w", "acme", "--role", "viewer").stdout.strip()
    with client_for(_platform(data_dir)) as client:
        response = Api(client, token).post("/api/projects", json={"name": "X", "slug": "x"})
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workspace", "acme", "--role", "admin"], "Invalid value for '--role'"),
        (["--workspace", " "], "error: a workspace name has 1 to 100 characters"),
        (["--workspace", "x" * 101], "error: a workspace name has 1 to 100 characters"),
        ([], "Missing option '--workspace'"),
    ],
)
def test_usage_errors_exit_2(cli: Any, args: list[str], message: str) -> None:
    result = cli("admin", "create-token", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_it_works_as_a_subprocess_with_nothing_else_on_stdout(plait_proc: Any) -> None:
    # A real process: migrations, logging and warnings must all stay off stdout.
    result = plait_proc("admin", "create-token", "--workspace", "ci", "--name", "ci")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1 and result.stdout.startswith("plt_")
    assert result.stderr.strip().splitlines() == [
        "created an API token with the owner role in workspace 'ci' (workspace created)"
    ]


@pytest.mark.slow
def test_it_works_on_postgresql(cli: Any, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with postgres_database() as url:
        monkeypatch.setenv("PLAIT_DATABASE_URL", url)
        result = cli("admin", "create-token", "--workspace", "acme")
        assert result.exit_code == 0, result.output
        platform = _platform(data_dir, database_url=url)
        try:
            assert _me(platform, result.stdout.strip()).json()["workspace_name"] == "acme"
        finally:
            platform.db.dispose()


def test_an_unreachable_database_is_one_line(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLAIT_DATABASE_URL", "postgresql://nobody:secret@127.0.0.1:1/plait")
    result = cli("admin", "create-token", "--workspace", "acme")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: cannot open the database postgresql+psycopg://nobody:***@")
    assert "secret" not in result.stderr
