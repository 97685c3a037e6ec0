"""Fault tests of the scaled shape, with real processes: the servers go down under it.

Each test starts its own Redis or PostgreSQL (``privatekit``) and takes that one down —
never the shared servers. ``plait serve`` accepts runs and only enqueues them
(``PLAIT_QUEUE=bullmq``); two ``plait worker`` processes execute them. What must hold
after the fault: every run the API accepted (answered 201) finishes, and no run — nor
any of its nodes — finishes twice. Every wait is bounded.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from privatekit import private_postgres, private_redis
from queuekit import (
    add_flow,
    api_client,
    assert_events_in_order,
    delays,
    event_counts,
    queue_env,
    run_events,
    start_run,
    wait_run,
    worker_process,
)
from serverkit import running_server
from servicekit import postgres_database, redis_prefix

pytestmark = pytest.mark.slow

# Long enough for the reconciler (every second here; it leaves runs younger than 5 s to
# the process that accepted them) and the queue's stalled check to act, on a loaded machine.
RECOVERY_S = 120


def assert_finished_once(database_url: str, run_id: str, nodes: set[str]) -> None:
    """The run's events are complete and in order, and each node succeeded once."""
    events = run_events(database_url, run_id)
    assert_events_in_order(events)
    succeeded = event_counts(events, "node.succeeded")
    assert set(succeeded) == nodes, (run_id, succeeded)
    assert all(count == 1 for count in succeeded.values()), (run_id, succeeded)


def statuses(api: httpx.Client, run_ids: list[str]) -> dict[str, str]:
    return {run_id: api.get(f"/api/runs/{run_id}").json()["status"] for run_id in run_ids}


def wait_for(what: str, check: Any, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_redis_restarted_and_down_under_runs_loses_no_accepted_run(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    nodes = {"start", "d1", "d2", "d3"}
    with (
        private_redis(tmp_path / "redis") as redis_server,
        postgres_database() as database_url,
    ):
        env = queue_env(database_url, redis_server.url, "plait-fault:", reconcile_s=1)
        with (
            running_server(data_dir, env=env) as server,
            worker_process(data_dir, env, concurrency=2, label="a") as a,
            worker_process(data_dir, env, concurrency=2, label="b") as b,
        ):
            api = api_client(server.url, data_dir, env)
            flow = add_flow(api, delays(3, 0.5))
            # Four slots: four runs at work, four waiting in the queue.
            accepted = [start_run(api, flow) for _ in range(8)]
            wait_for(
                "no run got to work",
                lambda: list(statuses(api, accepted).values()).count("running") >= 2,
            )
            assert "queued" in statuses(api, accepted).values()

            # A restart of a Redis that keeps nothing on disk: every job, lock and
            # subscription is gone. The database still says what is to do.
            redis_server.restart()
            accepted += [start_run(api, flow) for _ in range(2)]

            # Down for a while: runs are still accepted (the database has them), and
            # their jobs come once Redis is back.
            redis_server.stop()
            down = [start_run(api, flow) for _ in range(2)]
            accepted += down
            time.sleep(2)
            redis_server.start()

            for run_id in accepted:
                run = wait_run(api, run_id, timeout_s=RECOVERY_S)
                assert run["status"] == "succeeded", run
            for run_id in accepted:
                assert_finished_once(database_url, run_id, nodes)
            logs = a.output() + b.output()
            assert "Redis" in logs and "retrying" in logs, logs[-3000:]
        assert "stays queued: could not enqueue it" in server.stderr, server.stderr[-3000:]


class Load:
    """Starts a run every ``every_s`` from a thread; keeps what each answer said."""

    def __init__(self, api: httpx.Client, flow_id: str, every_s: float = 0.1) -> None:
        self.api, self.flow_id, self.every_s = api, flow_id, every_s
        self.accepted: list[str] = []
        self.refused: list[httpx.Response] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(60)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                answer = self.api.post(f"/api/flows/{self.flow_id}/runs", json={"input": 1})
            except httpx.HTTPError as exc:  # the server must keep answering
                self.failures.append(repr(exc))
            else:
                if answer.status_code == 201:
                    self.accepted.append(str(answer.json()["id"]))
                else:
                    self.refused.append(answer)
            self._stop.wait(self.every_s)


def test_postgres_down_for_seconds_under_load_loses_no_accepted_run(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    nodes = {"start", "d1", "d2"}
    with private_postgres() as database, redis_prefix() as (redis_url, prefix):
        env = queue_env(database.url, redis_url, prefix, reconcile_s=1)
        with (
            running_server(data_dir, env=env) as server,
            worker_process(data_dir, env, concurrency=4, label="a") as a,
            worker_process(data_dir, env, concurrency=4, label="b") as b,
        ):
            api = api_client(server.url, data_dir, env)
            flow = add_flow(api, delays(2, 0.3))
            with Load(api, flow) as load:
                wait_for("no run was accepted", lambda: len(load.accepted) >= 10)
                before = len(load.accepted)
                # An immediate stop: open connections are cut, as in a crash.
                database.stop("immediate")
                wait_for("no request was refused", lambda: len(load.refused) >= 5, 30)
                time.sleep(3)
                database.start()
                wait_for(
                    "no run was accepted after the outage",
                    lambda: len(load.accepted) >= before + 10,
                )

            assert load.failures == [], load.failures[:5]
            # While it was down the API said so, and what to do: nothing was changed.
            for answer in load.refused:
                assert answer.status_code == 503, answer.text
                assert answer.json()["error"]["code"] == "database_unavailable", answer.text
                assert "try again" in answer.json()["error"]["message"]
                assert answer.headers["retry-after"].isdigit()
            health = api.get("/api/health")
            assert health.status_code == 200, health.text

            for run_id in load.accepted:
                run = wait_run(api, run_id, timeout_s=RECOVERY_S)
                assert run["status"] == "succeeded", run
            for run_id in load.accepted:
                assert_finished_once(database.url, run_id, nodes)
            logs = a.output() + b.output()
            assert "the database cannot be reached" in logs, logs[-3000:]
        assert "the database cannot be reached" in server.stderr, server.stderr[-3000:]
