"""Scale-out with real processes on PostgreSQL and Redis: ``plait serve`` only enqueues
(``PLAIT_QUEUE=bullmq``), ``plait worker`` processes execute, ``plait router`` answers.

The queue's lock and stalled-check settings are small here (2 s and 1 s), so a dead
worker's run moves on within about 3 s; every wait is bounded.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from clikit import PLAIT, REPO, subprocess_env
from queuekit import (
    add_flow,
    api_client,
    assert_events_in_order,
    delays,
    event_counts,
    holder,
    queue_services,
    run_events,
    start_run,
    wait_node,
    wait_run,
    worker_process,
)
from runkit import chain, node
from serverkit import running_server
from test_routing_redis import plait_router

pytestmark = pytest.mark.slow

LOCK_S, STALLED_S = 2.0, 1.0
# The other worker takes a dead worker's run within lock + stalled interval; the rest is
# slack for a loaded machine.
TAKEOVER_S = LOCK_S + STALLED_S + 15


def test_a_sigkilled_workers_run_is_finished_by_another_worker(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with (
        queue_services() as env,
        running_server(data_dir, env=env) as server,
        worker_process(data_dir, env, label="a") as a,
        worker_process(data_dir, env, label="b") as b,
    ):
        api = api_client(server.url, data_dir, env)
        run_id = start_run(api, add_flow(api, delays(10, 0.5)))
        victim = holder([a, b], run_id)
        survivor = b if victim is a else a
        wait_node(api, run_id, "d3", "succeeded")
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait(timeout=10)

        deadline = time.monotonic() + TAKEOVER_S
        while not survivor.holds(run_id):
            assert time.monotonic() < deadline, survivor.output()[-3000:]
            time.sleep(0.05)
        run = wait_run(api, run_id)
        assert run["status"] == "succeeded", run

        events = run_events(env["PLAIT_DATABASE_URL"], run_id)
        assert_events_in_order(events)
        succeeded = event_counts(events, "node.succeeded")
        assert set(succeeded) == {"start", *(f"d{i}" for i in range(1, 11))}
        assert all(count == 1 for count in succeeded.values()), succeeded
        # Only the node at work when the worker died started twice, at most.
        started = event_counts(events, "node.started")
        assert sum(started.values()) - len(started) <= 1, started
        assert succeeded["d1"] == succeeded["d3"] == 1 and started["d1"] == 1


def test_sigterm_hands_a_workers_run_to_another_at_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with (
        queue_services() as env,
        running_server(data_dir, env=env) as server,
        worker_process(data_dir, env, label="a") as a,
        worker_process(data_dir, env, label="b") as b,
    ):
        api = api_client(server.url, data_dir, env)
        flow = chain(node("first", "data.set"), node("wait", "util.delay", {"seconds": 4}))
        run_id = start_run(api, add_flow(api, flow))
        leaving = holder([a, b], run_id)
        staying = b if leaving is a else a
        wait_node(api, run_id, "wait", "suspended")
        leaving.proc.send_signal(signal.SIGTERM)
        # Only waiting, not at work: handed back without using the grace period.
        assert leaving.proc.wait(timeout=30) == 0, leaving.output()
        assert "handed back" in leaving.output() or "returned to the queue" in leaving.output()
        # Another worker resumes it at once, not after a lock runs out.
        deadline = time.monotonic() + LOCK_S
        while not staying.holds(run_id):
            assert time.monotonic() < deadline + 5, staying.output()[-3000:]
            time.sleep(0.05)
        run = wait_run(api, run_id)
        assert run["status"] == "succeeded", run
        events = run_events(env["PLAIT_DATABASE_URL"], run_id)
        assert_events_in_order(events)
        assert event_counts(events, "node.started")["first"] == 1
        assert any("claimed by" in str(data) for *_, data in events)


def respond_flow(delay_s: float, timeout_s: float) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "name": "Ping",
        "nodes": [
            {
                "id": "hook",
                "type": "trigger.webhook",
                "version": 1,
                "params": {"method": "GET", "path": "/ping", "timeout_s": timeout_s},
            },
            {"id": "nap", "type": "util.delay", "version": 1, "params": {"seconds": delay_s}},
            {
                "id": "reply",
                "type": "http.respond",
                "version": 1,
                "params": {"body": "pong {{ inputs.input.name }}"},
            },
        ],
        "edges": [
            {
                "id": "e1",
                "source": "hook",
                "source_port": "query",
                "target": "nap",
                "target_port": "input",
            },
            {
                "id": "e2",
                "source": "nap",
                "source_port": "output",
                "target": "reply",
                "target_port": "input",
            },
        ],
    }


def test_a_router_answers_with_the_response_of_a_node_run_by_a_worker(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with (
        queue_services() as env,
        running_server(data_dir, env=env) as server,
        worker_process(data_dir, env, label="w") as worker,
        plait_router(data_dir, env) as router,
    ):
        api = api_client(server.url, data_dir, env)
        fast = add_flow(api, respond_flow(0.1, 20), slug="quick")
        published = api.post(f"/api/flows/{fast}/publish", json={"stage": "prod"})
        assert published.status_code in (200, 201), published.text
        slow = add_flow(api, respond_flow(3, 1), slug="late")
        assert api.post(f"/api/flows/{slow}/publish", json={"stage": "prod"}).is_success

        deadline = time.monotonic() + 20
        while (
            answer := httpx.get(f"{router}/p/quick/prod/ping?name=Ada", timeout=30)
        ).status_code == 404:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert answer.status_code == 200, answer.text
        assert answer.text == "pong Ada"
        assert "taken" in worker.output()  # the worker ran it, not the router
        for name in ("Bo", "Cy", "Di"):
            again = httpx.get(f"{router}/p/quick/prod/ping?name={name}", timeout=30)
            assert (again.status_code, again.text) == (200, f"pong {name}")

        late = httpx.get(f"{router}/p/late/prod/ping?name=Ed", timeout=30)
        assert late.status_code == 504, late.text


def test_a_worker_without_redis_says_so_retries_and_stops_cleanly(tmp_path: Path) -> None:
    from serverkit import free_port

    data_dir = tmp_path / "data"
    with queue_services() as env:
        env = {**env, "PLAIT_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
        log = tmp_path / "worker.log"
        with open(log, "w") as out:
            proc = subprocess.Popen(
                [*PLAIT, "worker"],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**subprocess_env(data_dir), **env},
                cwd=REPO,
            )
        try:
            deadline = time.monotonic() + 60
            while "retrying" not in log.read_text():
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.05)
            assert "cannot reach Redis at redis://127.0.0.1:" in log.read_text()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 0, log.read_text()
            assert "Traceback" not in log.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_plait_worker_needs_the_bullmq_queue(cli: Any) -> None:
    result = cli("worker")
    assert result.exit_code == 2
    assert "PLAIT_QUEUE=bullmq" in result.output
