"""``plait serve`` with its router, and ``plait router`` alone, as real subprocesses.

The acceptance of the router issue: the sample ``demo`` project's ``/hello/{name}`` flow
is published on ``prod`` at the first start, answers on its host and on the path form,
and each request is a run visible in the API with its per-node events.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from clikit import PLAIT, REPO, subprocess_env
from serverkit import free_port, running_server

pytestmark = pytest.mark.slow


def test_serve_answers_the_demo_on_its_host_and_records_the_run(tmp_path: Path) -> None:
    router_port = free_port()
    data_dir = tmp_path / "data"
    with running_server(data_dir, "--router-port", str(router_port)) as server:
        base = f"http://127.0.0.1:{router_port}"
        assert f"demo-prod.localhost:{router_port}/hello/Ada" in server.stdout

        by_header = httpx.get(f"{base}/hello/Ada", headers={"Host": "demo-prod.localhost"})
        by_path = httpx.get(f"{base}/p/demo/prod/hello/Bob")
        assert (by_header.status_code, by_header.text) == (200, "Hello Ada")
        assert (by_path.status_code, by_path.text) == (200, "Hello Bob")
        if shutil.which("curl"):
            # curl resolves *.localhost to the loopback itself, as browsers do.
            done = subprocess.run(
                [
                    "curl",
                    "-sS",
                    "--max-time",
                    "10",
                    f"http://demo-prod.localhost:{router_port}/hello/Ada",
                ],
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert done.stdout == "Hello Ada", done.stderr

        token = _token(data_dir)
        api = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"})
        project = next(p for p in api.get("/api/projects").json()["items"] if p["slug"] == "demo")
        flow = api.get(f"/api/projects/{project['id']}/flows").json()["items"][0]
        runs = _wait_for_runs(api, flow["id"], 2)
        for summary in runs:
            run = api.get(f"/api/runs/{summary['id']}").json()
            assert (run["status"], run["kind"], run["trigger"]) == ("succeeded", "webhook", "hook")
            assert set(run["nodes"]) == {"hook", "reply"}
            assert all(n["status"] == "succeeded" for n in run["nodes"].values())
            events = api.get(f"/api/runs/{summary['id']}/events").json()["items"]
            assert [e["type"] for e in events if e["node_id"] == "reply"] == [
                "node.started",
                "node.succeeded",
            ]


def _token(data_dir: Path) -> str:
    done = subprocess.run(
        [*PLAIT, "admin", "create-token", "--workspace", "default", "--name", "test"],
        capture_output=True,
        text=True,
        env=subprocess_env(data_dir),
        cwd=REPO,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def _wait_for_runs(api: httpx.Client, flow_id: str, count: int) -> list[dict]:
    """The flow's runs once ``count`` of them have ended (bounded wait, on state)."""
    deadline = time.monotonic() + 30
    while True:
        items = api.get(f"/api/flows/{flow_id}/runs").json()["items"]
        if len(items) >= count and all(i["status"] == "succeeded" for i in items):
            return items
        assert time.monotonic() < deadline, items
        time.sleep(0.05)


def test_plait_router_alone_serves_the_published_routes(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    # A first serve publishes the demo, then stops; the router alone serves it.
    with running_server(data_dir):
        pass
    port = free_port()
    proc = subprocess.Popen(
        [*PLAIT, "router", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(data_dir),
        cwd=REPO,
    )
    try:
        response = _get_when_up(f"http://127.0.0.1:{port}/p/demo/prod/hello/Ada", proc)
        assert (response.status_code, response.text) == (200, "Hello Ada")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _get_when_up(url: str, proc: subprocess.Popen[str]) -> httpx.Response:
    deadline = time.monotonic() + 60
    while True:
        try:
            return httpx.get(url, timeout=10)
        except httpx.TransportError:
            if proc.poll() is not None:
                raise AssertionError(proc.stderr.read() if proc.stderr else "") from None
            assert time.monotonic() < deadline, "plait router did not come up"
            time.sleep(0.05)


def test_the_router_port_must_differ_from_the_api_port(tmp_path: Path) -> None:
    done = subprocess.run(
        [*PLAIT, "serve", "--port", "9123", "--router-port", "9123"],
        capture_output=True,
        text=True,
        env=subprocess_env(tmp_path / "data"),
        cwd=REPO,
        timeout=60,
    )
    assert done.returncode == 2
    assert "router port and the API port are both 9123" in done.stderr
