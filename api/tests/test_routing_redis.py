"""Route-table invalidation across processes, over the real Redis.

Two real processes share one PostgreSQL database and one Redis: ``plait serve`` (the
API, and a router) and ``plait router`` alone. Flows are published through the API of
the first; the second, which cached the stage's table (or its absence) before, serves
each change. Its tables would otherwise live ``TABLE_MAX_AGE_S`` (30 s); the waits here
are bounded well under that, so passing means the invalidation came over Redis.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from clikit import PLAIT, REPO, subprocess_env
from serverkit import free_port, running_server
from servicekit import postgres_database, redis_prefix

from plait.api.routing import TABLE_MAX_AGE_S

pytestmark = pytest.mark.slow

# Bounded waits for a change to reach the other router, well under the tables' max age.
PROPAGATION_S = TABLE_MAX_AGE_S / 3


def flow(body: str) -> dict:
    return {
        "schema_version": 1,
        "name": "Ping",
        "nodes": [
            {
                "id": "hook",
                "type": "trigger.webhook",
                "version": 1,
                "params": {"method": "GET", "path": "/ping"},
            },
            {"id": "reply", "type": "http.respond", "version": 1, "params": {"body": body}},
        ],
        "edges": [
            {
                "id": "e1",
                "source": "hook",
                "source_port": "query",
                "target": "reply",
                "target_port": "input",
            }
        ],
    }


@contextmanager
def plait_router(data_dir: Path, env: dict[str, str]) -> Iterator[str]:
    """``plait router`` on a free port; yields its base URL once it answers."""
    port = free_port()
    full_env = {**subprocess_env(data_dir), **env}
    log = data_dir.parent / f"router-{port}.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [*PLAIT, "router", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=REPO,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(url + "/", timeout=5)
                break
            except httpx.TransportError:
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.05)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def answer(url: str) -> tuple[int, str]:
    response = httpx.get(url, timeout=10)
    return response.status_code, response.text


def wait_for_answer(url: str, expected: tuple[int, str]) -> None:
    deadline = time.monotonic() + PROPAGATION_S
    while (got := answer(url)) != expected:
        assert time.monotonic() < deadline, f"{url} still answers {got}, not {expected}"
        time.sleep(0.05)


def test_a_publish_through_one_process_reaches_the_other_router(tmp_path: Path) -> None:
    with postgres_database() as database_url, redis_prefix() as (redis_url, prefix):
        env = {
            "PLAIT_DATABASE_URL": database_url,
            "PLAIT_REDIS_URL": redis_url,
            "PLAIT_REDIS_PREFIX": prefix,
        }
        data_dir = tmp_path / "data"
        with (
            running_server(data_dir, env=env) as server,
            plait_router(data_dir, env) as other,
        ):
            token = subprocess.run(
                [*PLAIT, "admin", "create-token", "--workspace", "default", "--name", "t"],
                capture_output=True,
                text=True,
                env={**subprocess_env(data_dir), **env},
                cwd=REPO,
                timeout=60,
                check=True,
            ).stdout.strip()
            api = httpx.Client(
                base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
            )
            ping = f"{other}/p/twin/prod/ping"
            project = api.post("/api/projects", json={"name": "Twin", "slug": "twin"}).json()
            created = api.post(
                f"/api/projects/{project['id']}/flows",
                json={"name": "Ping", "document": flow("v1")},
            ).json()
            flow_id = created["id"]
            # The other router looks first, and keeps the stage's emptiness in its cache.
            assert answer(ping)[0] == 404

            published = api.post(f"/api/flows/{flow_id}/publish", json={"stage": "prod"})
            assert published.status_code in (200, 201), published.text
            wait_for_answer(ping, (200, "v1"))

            saved = api.put(f"/api/flows/{flow_id}", json={"document": flow("v2"), "revision": 1})
            assert saved.status_code == 200, saved.text
            assert api.post(f"/api/flows/{flow_id}/publish", json={"stage": "prod"}).is_success
            wait_for_answer(ping, (200, "v2"))

            assert api.delete(f"/api/flows/{flow_id}/publish/prod").status_code == 204
            deadline = time.monotonic() + PROPAGATION_S
            while answer(ping)[0] != 404:
                assert time.monotonic() < deadline, "the unpublished route is still served"
                time.sleep(0.05)
