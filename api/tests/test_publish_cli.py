"""``plait publish``, ``plait unpublish`` and ``plait publications`` against a real HTTP
server on 127.0.0.1 (the API app under uvicorn in a thread)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from apikit import Api, new_workspace, platform_for
from fastapi.testclient import TestClient
from serverkit import free_port
from test_publish import new_flow, new_project, webhook_flow

from plait.api.app import create_app


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Any]]:
    """(server URL, an owner token, the platform) of a server in this process."""
    with platform_for("sqlite", tmp_path_factory.mktemp("publish-cli")) as platform:
        token = new_workspace(platform, "alpha")
        port = free_port()
        config = uvicorn.Config(
            create_app(platform, migrate=False), host="127.0.0.1", port=port, log_level="error"
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}", token, platform
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def env(
    live: tuple[str, str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> tuple[str, str, Any]:
    url, token, _ = live
    monkeypatch.setenv("PLAIT_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("PLAIT_SERVER", url)
    monkeypatch.setenv("PLAIT_TOKEN", token)
    return live


def test_publish_unpublish_and_list_from_the_command_line(
    cli: Any, env: tuple[str, str, Any]
) -> None:
    _, token, platform = env
    with TestClient(create_app(platform, migrate=False)) as client:
        api = Api(client, token)
        project = new_project(api, "clishop")
        flow = new_flow(api, project, webhook_flow("/hello/{name}", name="Hello"))
        clash = new_flow(api, project, webhook_flow("/hello/{who}", name="Clash"))

    result = cli("publish", flow["id"], "--stage", "prod")
    assert result.exit_code == 0, result.output
    assert "published 'Hello' version 1 on prod" in result.stdout
    assert "GET     http://clishop-prod.localhost:8080/hello/{name}" in result.stdout

    result = cli("publish", flow["id"], "--stage", "dev", "--version", "1", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["stage"] == "dev"

    refused = cli("publish", clash["id"], "--stage", "prod")
    assert refused.exit_code == 1
    assert "409" in refused.stderr and "Hello" in refused.stderr and "Clash" in refused.stderr

    listing = cli("publications", "clishop")
    assert listing.exit_code == 0, listing.output
    assert "2 publications" in listing.stdout and "http://clishop-dev.localhost" in listing.stdout
    history = json.loads(cli("publications", "clishop", "--stage", "prod", "--json").stdout)
    assert [(p["version"], p["active"]) for p in history] == [(1, True)]

    assert cli("unpublish", flow["id"], "--stage", "dev").exit_code == 0
    again = cli("unpublish", flow["id"], "--stage", "dev")
    assert again.exit_code == 1 and "not found" in again.stderr
    assert len(json.loads(cli("publications", "clishop", "--json").stdout)) == 1

    assert cli("publications", "nope").exit_code == 1
    assert cli("publish", "../auth/me", "--stage", "prod").exit_code == 2
    assert cli("unpublish", flow["id"], "--stage", "Prod!").exit_code == 2
