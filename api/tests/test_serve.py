"""``plait serve``: start-up, the login link, the editor files, shutdown, first-start seeding.

The server tests run the real command in a subprocess on a free port; the editor-files
and seeding tests build the same app in this process.
"""

from __future__ import annotations

import io
import signal
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from apikit import client_for
from clikit import EXAMPLES, PLAIT, REPO, subprocess_env
from fastapi.testclient import TestClient
from serverkit import Server, free_port, platform_on, running_server
from sqlalchemy import func, select

from plait.api import serve
from plait.api.db.models import Flow, Project, Stage
from plait.api.platform import Platform
from plait.api.portability import SAMPLE_SLUG
from plait.api.settings import load_settings

EXAMPLE_COUNT = len(list(EXAMPLES.glob("*.json")))

pytestmark = pytest.mark.slow


# -- a live server ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One `plait serve` on a fresh data dir, shared by the tests that only look at it."""
    root = tmp_path_factory.mktemp("serve")
    with running_server(root / "data") as live:
        yield live


def test_first_start_prints_the_url_and_a_login_link(server: Server) -> None:
    out = server.stdout
    assert "Plait 0.1.0 is running at http://localhost:" in out
    assert "one-time link" in out
    assert "/api/docs" in out
    assert "(created now)" in out
    assert f"project 'sample' with {EXAMPLE_COUNT} flows" in out
    assert "router is not active yet" not in out  # --router-port 0: no router line
    # The banner goes to stdout; the log to stderr.
    assert "Application startup complete" in server.stderr


def test_the_login_link_logs_in_once(server: Server) -> None:
    with httpx.Client() as client:
        response = client.get(server.login_url, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == "/"
        assert "plait_session" in response.cookies
        me = client.get(server.login_url.split("/api/")[0] + "/api/auth/me")
        assert me.status_code == 200
        assert me.json()["role"] == "owner" and me.json()["workspace_name"] == "default"
        again = client.get(server.login_url, follow_redirects=False)
        assert again.status_code == 401


def test_health_and_the_editor_not_built_page(server: Server) -> None:
    health = httpx.get(f"{server.url}/api/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    page = httpx.get(f"{server.url}/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "editor is not built" in page.text
    assert "cd editor &amp;&amp; npm ci &amp;&amp; npm run build" in page.text
    assert 'href="/api/docs"' in page.text
    # Unknown API paths stay JSON errors.
    missing = httpx.get(f"{server.url}/api/nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_the_first_start_seeds_the_sample_project(server: Server) -> None:
    with platform_on(server.data_dir) as platform, platform.db.session() as session:
        project = session.scalar(select(Project).where(Project.slug == SAMPLE_SLUG))
        assert project is not None
        flows = session.scalar(select(func.count()).where(Flow.project_id == project.id))
        assert flows == EXAMPLE_COUNT
        stages = set(session.scalars(select(Stage.name).where(Stage.project_id == project.id)))
        assert stages == {"dev", "prod"}


def test_sigterm_stops_cleanly_and_a_restart_keeps_the_data(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with running_server(data, "--no-sample") as first:
        code, took = first.stop(signal.SIGTERM)
        assert code == 0
        assert took < 10
        assert "Application shutdown complete" in first.stderr
        first_link = first.login_url
    with running_server(data) as second:
        # Not a first start: no new workspace, and no sample project after --no-sample.
        assert "(created now)" not in second.stdout
        assert "Sample" not in second.stdout
        assert second.login_url != first_link
        assert httpx.get(second.login_url, follow_redirects=False).status_code == 303
        code, _ = second.stop(signal.SIGINT)  # Ctrl-C is a clean stop too
        assert code == 0


def test_a_busy_port_is_one_clear_line(tmp_path: Path) -> None:
    import subprocess

    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        result = subprocess.run(
            [*PLAIT, "serve", "--port", str(port), "--router-port", "0"],
            capture_output=True,
            text=True,
            timeout=60,
            env=subprocess_env(tmp_path / "data"),
            cwd=REPO,
        )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: cannot listen on 127.0.0.1:{port}: the port is in use (is another"
        " `plait serve` running?); stop it or pick another port with --port"
    ]


# -- the same app, in this process ------------------------------------------------------------


@pytest.fixture
def editor_dist(tmp_path: Path) -> Path:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><div id=root></div>")
    (dist / "assets" / "app-1a2b.js").write_text("console.log('plait')")
    return dist


def _client(platform: Any, dist: Path | None) -> TestClient:
    return TestClient(serve.build_app(platform, dist))


def test_the_editor_build_is_served_as_a_single_page_app(platform: Any, editor_dist: Path) -> None:
    with _client(platform, editor_dist) as client:
        index = client.get("/")
        assert index.status_code == 200 and "id=root" in index.text
        assert index.headers["cache-control"] == "no-cache"
        # A route of the editor's own router gets index.html too.
        deep = client.get("/projects/sample/flows/3f9c")
        assert deep.status_code == 200 and "id=root" in deep.text
        asset = client.get("/assets/app-1a2b.js")
        assert asset.status_code == 200 and "plait" in asset.text
        assert client.get("/assets/missing.js").status_code == 404
        api_missing = client.get("/api/nope")
        assert api_missing.status_code == 404
        assert api_missing.json()["error"]["code"] == "not_found"
        assert client.get("/api/health").json()["status"] == "ok"


def test_the_editor_build_is_found_through_the_environment(
    editor_dist: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(serve.EDITOR_DIST_ENV, str(editor_dist))
    assert serve.find_editor_dist() == editor_dist
    monkeypatch.setenv(serve.EDITOR_DIST_ENV, str(tmp_path / "nothing"))
    assert serve.find_editor_dist() is None


def test_without_a_build_only_the_root_says_how_to_build_it(platform: Any) -> None:
    with _client(platform, None) as client:
        page = client.get("/")
        assert page.status_code == 200 and "npm run build" in page.text
        assert client.get("/flows/3f9c").status_code == 404
        assert "/" not in client.get("/api/openapi.json").json()["paths"]


def test_prepare_seeds_the_sample_only_on_the_first_start(platform: Any) -> None:
    first = serve.prepare(platform, sample=True)
    assert first.first_start and first.sample == (SAMPLE_SLUG, EXAMPLE_COUNT)
    assert "/api/auth/link?token=plt_" in first.login_url
    # The user may delete the sample; a restart never brings it back.
    with platform.db.session() as session:
        session.delete(session.scalar(select(Project).where(Project.slug == SAMPLE_SLUG)))
    second = serve.prepare(platform, sample=True)
    assert not second.first_start and second.sample is None
    assert second.login_url != first.login_url
    with platform.db.session() as session:
        # Only the demo project (made and published with the sample) is left.
        slugs = session.scalars(select(Project.slug)).all()
        assert slugs == [serve.DEMO_SLUG]


def test_prepare_without_the_sample(platform: Any) -> None:
    info = serve.prepare(platform, sample=False)
    assert info.first_start and info.sample is None
    with client_for(platform) as client:
        token = info.login_url.split("token=")[1]
        assert client.get(f"/api/auth/link?token={token}", follow_redirects=False).is_redirect


def test_the_banner_shows_the_link_and_the_router(platform: Any) -> None:
    info = serve.prepare(platform, sample=True)
    text = serve.banner(platform, info, None)
    assert info.login_url in text
    assert "http://{project}-{stage}.localhost:8080/" in text
    assert "http://demo-prod.localhost:8080/hello/Ada" in text
    assert "npm run build" in text and "(SQLite)" in text


def test_a_failing_start_up_is_exit_1_with_a_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from plait.api import runtime

    async def broken(_: Any) -> None:
        raise RuntimeError("the dispatcher cannot start")

    monkeypatch.setattr(runtime, "start", broken)
    platform = Platform(load_settings(data_dir=tmp_path, port=free_port()))
    platform.migrate()
    out = io.StringIO()
    code = serve.serve(platform, serve.ServeOptions(sample=False), out)
    assert code == 1
    assert out.getvalue() == ""  # no banner, no login link for a server that is not there
    assert capsys.readouterr().err.endswith(
        "error: the server did not start; the log above says why\n"
    )
