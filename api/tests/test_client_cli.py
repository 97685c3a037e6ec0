"""The CLI verbs that talk to a running server: login, projects, flows, runs.

One real ``plait serve`` (a subprocess, with the sample project) serves the module; the
verbs run in this process with their own config dir.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from apikit import new_workspace
from clikit import EXAMPLES
from serverkit import Server, free_port, platform_on, running_server

from plait.api.cli import _print_run

pytestmark = pytest.mark.slow

EXAMPLE_NAMES = sorted(json.loads(p.read_text())["name"] for p in EXAMPLES.glob("*.json"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("client")
    with running_server(root / "data") as live:
        yield live


@pytest.fixture(scope="module")
def token(server: Server) -> str:
    """An owner token of the workspace the server made (which holds the sample)."""
    with platform_on(server.data_dir) as platform:
        return new_workspace(platform, "default")


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "config" / "plait"
    monkeypatch.setenv("PLAIT_CONFIG_DIR", str(path))
    monkeypatch.delenv("PLAIT_SERVER", raising=False)
    monkeypatch.delenv("PLAIT_TOKEN", raising=False)
    return path


@pytest.fixture
def logged_in(cli: Any, server: Server, token: str, config_dir: Path) -> Any:
    result = cli("login", "--server", server.url, "--token", token)
    assert result.exit_code == 0, result.output
    return cli


# -- login ------------------------------------------------------------------------------------


def test_login_checks_the_token_and_stores_it_for_the_user_only(
    cli: Any, server: Server, token: str, config_dir: Path
) -> None:
    result = cli("login", "--server", server.url.removeprefix("http://") + "/", "--token", token)
    assert result.exit_code == 0, result.output
    assert f"logged in to {server.url} as an API token, owner of workspace 'default'" in (
        result.stdout
    )
    path = config_dir / "credentials.json"
    assert json.loads(path.read_text()) == {"server": server.url, "token": token}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(config_dir.stat().st_mode) == 0o700
    assert [p.name for p in config_dir.iterdir()] == ["credentials.json"]  # no temp files left

    result = cli("logout")
    assert result.exit_code == 0 and not path.exists()
    assert "not logged in" in cli("logout").stdout


def test_login_reads_the_token_from_stdin(
    cli: Any, server: Server, token: str, config_dir: Path
) -> None:
    result = cli("login", "--server", server.url, input=token + "\n")
    assert result.exit_code == 0, result.output
    assert token not in result.output  # the prompt hides what it reads


def test_an_empty_token_is_a_usage_error(cli: Any, server: Server, config_dir: Path) -> None:
    result = cli("login", "--server", server.url, input="\n")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: give an API token with --token (make one with `plait admin create-token`)"
    )


def test_a_refused_token_says_to_log_in_and_stores_nothing(
    cli: Any, server: Server, config_dir: Path
) -> None:
    result = cli("login", "--server", server.url, "--token", "plt_not-a-token")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: the server at {server.url} refused the token (")
    assert lines[0].endswith("log in again with `plait login --server URL --token TOKEN`")
    assert not (config_dir / "credentials.json").exists()


def test_an_unreachable_server_is_one_line(cli: Any, config_dir: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = cli("login", "--server", url, "--token", "plt_x")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"error: cannot reach the Plait server at {url} (connection refused);"
        " is `plait serve` running there?"
    )


def test_a_server_that_is_not_plait(cli: Any, server: Server, config_dir: Path) -> None:
    # The editor page is HTML, not the API's JSON.
    result = cli("projects", "list", "--server", server.url + "/api/docs", "--token", "plt_x")
    assert result.exit_code == 1
    assert "error:" in result.stderr and "Traceback" not in result.output


def test_verbs_need_a_login(cli: Any, config_dir: Path) -> None:
    for verb in (["projects", "list"], ["flows", "list"], ["runs", "show", "0" * 32]):
        result = cli(*verb)
        assert result.exit_code == 2
        assert result.stderr.strip() == (
            "error: not logged in; run `plait login --server URL --token TOKEN` first"
            " (or set PLAIT_SERVER and PLAIT_TOKEN)"
        )


def test_damaged_credentials_say_to_log_in_again(cli: Any, config_dir: Path) -> None:
    config_dir.mkdir(parents=True)
    (config_dir / "credentials.json").write_text("{not json")
    result = cli("projects", "list")
    assert result.exit_code == 2
    assert "log in again with `plait login" in result.stderr


def test_the_environment_can_stand_in_for_a_login(
    cli: Any, server: Server, token: str, config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLAIT_SERVER", server.url)
    monkeypatch.setenv("PLAIT_TOKEN", token)
    result = cli("projects", "list", "--json")
    assert result.exit_code == 0, result.output
    # The first start makes the sample project and the published demo.
    assert sorted(p["slug"] for p in json.loads(result.stdout)) == ["demo", "sample"]


# -- projects and flows -----------------------------------------------------------------------


def test_projects_list(logged_in: Any) -> None:
    table = logged_in("projects", "list")
    assert table.exit_code == 0, table.output
    assert "2 projects" in table.stdout and "sample" in table.stdout and "Sample" in table.stdout
    projects = json.loads(logged_in("projects", "list", "--json").stdout)
    assert sorted((p["slug"], p["name"]) for p in projects) == [
        ("demo", "Demo"),
        ("sample", "Sample"),
    ]


def test_flows_list(logged_in: Any) -> None:
    table = logged_in("flows", "list", "--project", "sample")
    assert table.exit_code == 0, table.output
    assert f"{len(EXAMPLE_NAMES)} flows" in table.stdout
    for name in EXAMPLE_NAMES:
        assert name in table.stdout
    flows = json.loads(logged_in("flows", "list", "-p", "sample", "--json").stdout)
    assert sorted(f["name"] for f in flows) == EXAMPLE_NAMES
    assert all(f["revision"] == 1 for f in flows)
    every = json.loads(logged_in("flows", "list", "--json").stdout)
    assert sorted(f["name"] for f in every) == sorted([*EXAMPLE_NAMES, "Hello webhook"])


def test_flows_of_an_unknown_project(logged_in: Any, server: Server) -> None:
    result = logged_in("flows", "list", "--project", "nope")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"error: no project 'nope' in your workspace on {server.url};"
        " `plait projects list` shows them"
    )


# -- runs ---------------------------------------------------------------------------------------


def _start_hello(server: Server, token: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as http:
        projects = http.get("/api/projects").json()["items"]
        project = next(p for p in projects if p["slug"] == "sample")
        flows = http.get(f"/api/projects/{project['id']}/flows").json()["items"]
        hello = next(f for f in flows if f["name"] == "Hello")
        response = http.post(
            f"/api/flows/{hello['id']}/runs", json={"input": {"name": "Ada"}, "wait_s": 20}
        )
        assert response.status_code in (200, 201, 202), response.text
        run: dict[str, Any] = response.json()
        return run


def test_runs_show(logged_in: Any, server: Server, token: str) -> None:
    run = _start_hello(server, token)
    result = logged_in("runs", "show", run["id"])
    assert result.exit_code == 0, result.output
    assert f"Run {run['id']} succeeded" in result.stdout
    assert "version  draft" in result.stdout
    assert "greet" in result.stdout and "Hello Ada!" in result.stdout
    shown = json.loads(logged_in("runs", "show", run["id"], "--json").stdout)
    assert shown["status"] == "succeeded"
    assert shown["nodes"]["greet"]["outputs"] == {"text": "Hello Ada!"}


def test_runs_show_of_an_unknown_run(logged_in: Any, server: Server) -> None:
    missing = "0" * 32
    result = logged_in("runs", "show", missing)
    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: run {missing} not found on {server.url}"


def test_a_run_reads_well(capsys: pytest.CaptureFixture[str]) -> None:
    _print_run(
        {
            "id": "r1",
            "flow_id": "f1",
            "version": 3,
            "kind": "manual",
            "status": "failed",
            "trigger": "start",
            "created_at": "2025-01-31T12:00:07.123456Z",
            "started_at": "2025-01-31T12:00:07Z",
            "finished_at": "2025-01-31T12:00:09.500000Z",
            "error": {"kind": "http_status", "message": "503 from upstream", "node_id": "call"},
            "result": None,
            "nodes": {
                "start": {"status": "succeeded", "attempts": 1, "error": None},
                "call": {
                    "status": "failed",
                    "attempts": 3,
                    "error": {"kind": "http_status", "message": "503 from upstream\nmore"},
                    "started_at": "2025-01-31T12:00:07Z",
                    "finished_at": "2025-01-31T12:00:09Z",
                },
            },
        }
    )
    out = capsys.readouterr().out
    assert "Run r1 failed in 2.5 s" in out
    assert "version  3" in out and "created  2025-01-31 12:00:07" in out
    assert "error    node call: http_status: 503 from upstream" in out
    assert "more" not in out


# -- help ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["serve"],
        ["admin", "create-token"],
        ["export"],
        ["import"],
        ["login"],
        ["logout"],
        ["projects", "list"],
        ["flows", "list"],
        ["runs", "show"],
    ],
    ids=" ".join,
)
def test_every_platform_command_has_help_with_an_example(cli: Any, command: list[str]) -> None:
    result = cli(*command, "--help")
    assert result.exit_code == 0
    assert "Examples" in result.stdout
    assert f"plait {' '.join(command)}" in result.stdout
