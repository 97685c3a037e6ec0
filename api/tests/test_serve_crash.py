"""The acceptance line of issue 3: SIGKILL ``plait serve`` during a run, start it again,
and the run finishes without running a succeeded node twice.

The flow posts to a recording HTTP server on 127.0.0.1 before and after a durable delay
(``http.request`` is not idempotent, so the engine makes its start and end durable), so
the recorder counts real executions. The test waits on state — the run's nodes as the
API shows them — never on the clock.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from clikit import PLAIT, REPO, edge, flow_doc, node, subprocess_env
from serverkit import running_server

pytestmark = pytest.mark.slow

# Long enough that the kill lands while the delay runs, on a busy machine too; after the
# restart the delay waits only for what is left of it.
DELAY_S = 4
LIMIT_S = 60
ENV = {"PLAIT_ALLOW_PRIVATE_NETWORKS": "1"}


@contextmanager
def recorder() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """An HTTP server on 127.0.0.1 that records the JSON body of every POST."""
    calls: list[dict[str, Any]] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            with lock:
                calls.append({"path": self.path, **json.loads(body)})
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"recorded": true}')

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", calls
    finally:
        server.shutdown()
        server.server_close()


def effect(node_id: str, url: str) -> dict[str, Any]:
    return node(
        node_id,
        "http.request",
        {"method": "POST", "url": url, "body": {"step": node_id, "run": "{{ run.id }}"}},
    )


def crash_flow(base: str) -> dict[str, Any]:
    return flow_doc(
        [
            node("start", "trigger.manual"),
            effect("before", f"{base}/before"),
            node("wait", "util.delay", {"seconds": DELAY_S}),
            effect("after", f"{base}/after"),
            node("done", "data.set", {"values": {"status": "{{ inputs.input }}"}}),
        ],
        [
            edge("e1", "start", "payload", "before", "input"),
            edge("e2", "before", "body", "wait", "input"),
            edge("e3", "wait", "output", "after", "input"),
            edge("e4", "after", "status", "done", "input"),
        ],
    )


def create_token(data_dir: Path) -> str:
    result = subprocess.run(
        [*PLAIT, "admin", "create-token", "--workspace", "t"],
        capture_output=True,
        text=True,
        timeout=LIMIT_S,
        env=subprocess_env(data_dir),
        cwd=REPO,
        check=True,
    )
    return result.stdout.strip()


def wait_for(check: Any, what: str) -> Any:
    """Poll ``check()`` until it returns something truthy (bounded)."""
    deadline = time.monotonic() + LIMIT_S
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_sigkill_mid_run_then_restart_finishes_without_rerunning(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    token = create_token(data_dir)
    headers = {"Authorization": f"Bearer {token}"}

    with recorder() as (base, calls):
        with running_server(data_dir, "--no-sample", env=ENV) as server:
            api = httpx.Client(base_url=server.url, headers=headers, timeout=30)
            project = api.post("/api/projects", json={"name": "Crash", "slug": "crash"})
            assert project.status_code == 201, project.text
            flow = api.post(
                f"/api/projects/{project.json()['id']}/flows",
                json={"name": "Crash", "document": crash_flow(base)},
            )
            assert flow.status_code == 201, flow.text
            started = api.post(f"/api/flows/{flow.json()['id']}/runs", json={"input": {"n": 1}})
            assert started.status_code == 201, started.text
            run_id = started.json()["id"]

            def suspended() -> bool:
                nodes = api.get(f"/api/runs/{run_id}").json()["nodes"]
                return bool(nodes["wait"]["status"] == "suspended")

            wait_for(suspended, "the delay to be under way")
            assert [c["step"] for c in calls] == ["before"]
            server.proc.send_signal(signal.SIGKILL)
            assert server.proc.wait(timeout=LIMIT_S) == -signal.SIGKILL
            api.close()

        with running_server(data_dir, "--no-sample", env=ENV) as server:
            api = httpx.Client(base_url=server.url, headers=headers, timeout=30)

            def finished() -> dict[str, Any] | None:
                run: dict[str, Any] = api.get(f"/api/runs/{run_id}").json()
                return run if run["status"] not in ("queued", "running") else None

            run = wait_for(finished, "the run to finish after the restart")
            events = api.get(f"/api/runs/{run_id}/events", params={"limit": 1000}).json()
            api.close()

    assert run["status"] == "succeeded", (run["error"], run["nodes"])
    assert run["result"] == {"done": {"output": {"status": 200}}}
    # Each effect reached the world exactly once, for this run.
    assert sorted(c["step"] for c in calls) == ["after", "before"]
    assert {c["run"] for c in calls} == {run_id}
    # And the engine agrees: succeeded nodes were not started again after the restart.
    items = events["items"]
    started_count = Counter(e["node_id"] for e in items if e["type"] == "node.started")
    succeeded_count = Counter(e["node_id"] for e in items if e["type"] == "node.succeeded")
    assert started_count["start"] == started_count["before"] == started_count["after"] == 1
    assert all(n == 1 for n in succeeded_count.values()), succeeded_count
    assert any(e.get("data", {}).get("message") == "run resumed" for e in items)
    assert [e["seq"] for e in items] == list(range(1, len(items) + 1))
