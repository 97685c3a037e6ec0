"""Helpers for the scale-out tests: a platform on PostgreSQL + Redis with
``PLAIT_QUEUE=bullmq``, BullMQ workers in a thread of the test process (with the test
nodes) or as real ``plait worker`` processes, and reading a run's events.

For the fault tests: ``worker_process`` starts a real ``plait worker`` and ``holder``
tells which of several holds a run (from their logs); ``queue_env`` is the environment
every process of one installation shares; ``event_counts`` / ``assert_events_in_order``
check what a run wrote.
"""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from apikit import platform_for
from clikit import PLAIT, REPO, subprocess_env
from runkit import chain, node, register_test_nodes
from servicekit import postgres_database, redis_prefix
from sqlalchemy import select

from plait.api.db.models import Base, Run
from plait.api.platform import Platform
from plait.api.runs.hub import RedisHub
from plait.api.runs.queue import QueueWorker
from plait.api.settings import load_settings

_EVENTS = Base.metadata.tables["run_events"]

# Small lock and stalled-check settings: a dead worker's run moves on within ~3 s.
FAST_QUEUE = {"queue_lock_s": 2.0, "queue_stalled_interval_s": 1.0, "queue_reconcile_s": 3600.0}
READY = re.compile(r"plait worker (\S+) ready")


def queue_env(
    database_url: str, redis_url: str, prefix: str, *, reconcile_s: float = 3600
) -> dict[str, str]:
    """The ``PLAIT_*`` variables every process of one scaled installation shares, with
    the fast queue settings (the reconciler off unless ``reconcile_s`` says otherwise)."""
    return {
        "PLAIT_DATABASE_URL": database_url,
        "PLAIT_REDIS_URL": redis_url,
        "PLAIT_REDIS_PREFIX": prefix,
        "PLAIT_QUEUE": "bullmq",
        "PLAIT_QUEUE_LOCK_S": f"{FAST_QUEUE['queue_lock_s']:g}",
        "PLAIT_QUEUE_STALLED_INTERVAL_S": f"{FAST_QUEUE['queue_stalled_interval_s']:g}",
        "PLAIT_QUEUE_RECONCILE_S": f"{reconcile_s:g}",
    }


@contextmanager
def queue_services() -> Iterator[dict[str, str]]:
    """A fresh PostgreSQL database and Redis prefix; yields their ``queue_env``."""
    with postgres_database() as database_url, redis_prefix() as (redis_url, prefix):
        yield queue_env(database_url, redis_url, prefix)


@contextmanager
def queue_platform(data_dir: Path, **settings: Any) -> Iterator[Platform]:
    """A migrated platform on a fresh PostgreSQL database, queueing runs on Redis."""
    with (
        redis_prefix() as (redis_url, prefix),
        platform_for(
            "postgresql",
            data_dir,
            queue="bullmq",
            redis_url=redis_url,
            redis_prefix=prefix,
            **{**FAST_QUEUE, **settings},
        ) as platform,
    ):
        yield platform


class WorkerThread:
    """A ``QueueWorker`` on its own event loop in a thread, on its own ``Platform`` (own
    connections) of the same settings, with the test nodes registered."""

    def __init__(self, settings: Any, *, concurrency: int = 4, name: str | None = None) -> None:
        self.platform = Platform(settings)
        register_test_nodes(self.platform)
        self.hub = RedisHub(settings.redis_url, prefix=settings.redis_prefix)
        self.worker = QueueWorker(self.platform, self.hub, concurrency=concurrency, name=name)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._stopped = False

    def call(self, coroutine: Any, timeout_s: float = 30) -> Any:
        """Run a coroutine on the worker's loop and wait for its result."""
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        return future.result(timeout_s)

    def start(self) -> WorkerThread:
        self._thread.start()
        self.call(self.hub.start())
        self.call(self.worker.start())
        return self

    def stop(self, grace_s: float = 5.0) -> None:
        """The graceful stop of SIGTERM."""
        if self._stopped:
            return
        self._stopped = True
        try:
            self.call(self.worker.stop(grace_s), timeout_s=grace_s + 30)
            self.call(self.hub.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self.platform.db.dispose()

    def __enter__(self) -> WorkerThread:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


# -- real processes ----------------------------------------------------------------------------


@dataclass
class WorkerProcess:
    proc: subprocess.Popen[str]
    name: str
    log: Path

    def output(self) -> str:
        return self.log.read_text()

    def holds(self, run_id: str) -> bool:
        """True when its log says it took a job of ``run_id``."""
        return re.search(rf"run {run_id}: job \S+ taken", self.output()) is not None


@contextmanager
def worker_process(
    data_dir: Path, env: dict[str, str], *, concurrency: int = 4, label: str = "w"
) -> Iterator[WorkerProcess]:
    """A real ``plait worker``, ready (it printed its ready line); SIGTERM (then SIGKILL)
    on the way out."""
    full_env = {**subprocess_env(data_dir), **env}
    log = data_dir.parent / f"worker-{label}-{time.monotonic_ns()}.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [*PLAIT, "worker", "--concurrency", str(concurrency), "--log-level", "info"],
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            env=full_env,
            cwd=REPO,
        )
    try:
        deadline = time.monotonic() + 60
        while not (match := READY.search(log.read_text())):
            assert proc.poll() is None, f"plait worker exited {proc.returncode}:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"plait worker is not ready:\n{log.read_text()}"
            time.sleep(0.05)
        yield WorkerProcess(proc, match.group(1), log)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def holder(workers: list[WorkerProcess], run_id: str, timeout_s: float = 30) -> WorkerProcess:
    """The worker whose log says it took the run (waits for one to)."""
    deadline = time.monotonic() + timeout_s
    while True:
        for worker in workers:
            if worker.holds(run_id):
                return worker
        assert time.monotonic() < deadline, "no worker took the run: " + " | ".join(
            w.output()[-2000:] for w in workers
        )
        time.sleep(0.05)


# -- driving the API of a running installation -------------------------------------------------


def token(data_dir: Path, env: dict[str, str]) -> str:
    return subprocess.run(
        [*PLAIT, "admin", "create-token", "--workspace", "default", "--name", "t"],
        capture_output=True,
        text=True,
        env={**subprocess_env(data_dir), **env},
        cwd=REPO,
        timeout=60,
        check=True,
    ).stdout.strip()


def api_client(server_url: str, data_dir: Path, env: dict[str, str]) -> httpx.Client:
    return httpx.Client(
        base_url=server_url,
        headers={"Authorization": f"Bearer {token(data_dir, env)}"},
        timeout=30,
    )


def add_flow(api: httpx.Client, document: dict[str, Any], slug: str = "scale") -> str:
    project = api.post("/api/projects", json={"name": slug, "slug": slug})
    assert project.status_code == 201, project.text
    flow = api.post(
        f"/api/projects/{project.json()['id']}/flows", json={"name": "F", "document": document}
    )
    assert flow.status_code == 201, flow.text
    return str(flow.json()["id"])


def start_run(api: httpx.Client, flow_id: str) -> str:
    started = api.post(f"/api/flows/{flow_id}/runs", json={"input": 1})
    assert started.status_code == 201, started.text
    return str(started.json()["id"])


def wait_run(api: httpx.Client, run_id: str, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        run: dict[str, Any] = api.get(f"/api/runs/{run_id}").json()
        if run["status"] in ("succeeded", "failed", "timed_out", "cancelled"):
            return run
        assert time.monotonic() < deadline, f"run {run_id} is still {run['status']}"
        time.sleep(0.05)


def wait_node(api: httpx.Client, run_id: str, node_id: str, status: str) -> None:
    deadline = time.monotonic() + 60
    while api.get(f"/api/runs/{run_id}").json()["nodes"][node_id]["status"] != status:
        assert time.monotonic() < deadline, f"{node_id} never got {status}"
        time.sleep(0.05)


def delays(count: int, seconds: float) -> dict[str, Any]:
    return chain(*(node(f"d{i}", "util.delay", {"seconds": seconds}) for i in range(1, count + 1)))


# -- reading what a run wrote ------------------------------------------------------------------


def run_events(database_url: str, run_id: str) -> list[tuple[int, str, str | None, Any]]:
    """(seq, type, node id, data) of a run's durable events, in seq order."""
    from sqlalchemy import create_engine

    url = database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(_EVENTS.c.seq, _EVENTS.c.type, _EVENTS.c.node_id, _EVENTS.c.data)
                .where(_EVENTS.c.run_id == run_id)
                .order_by(_EVENTS.c.seq)
            ).all()
    finally:
        engine.dispose()
    return [(seq, type_, node_id, data) for seq, type_, node_id, data in rows]


def event_counts(events: list[tuple[int, str, str | None, Any]], etype: str) -> Counter[str]:
    return Counter(node_id for _, type_, node_id, _ in events if type_ == etype and node_id)


def assert_events_in_order(events: list[tuple[int, str, str | None, Any]]) -> None:
    """Seqs 1..n with no gap; one run.started first and one terminal event, last."""
    assert [seq for seq, *_ in events] == list(range(1, len(events) + 1)), events
    types = [type_ for _, type_, *_ in events]
    assert types[0] == "run.started" and types.count("run.started") == 1, types
    terminal = [t for t in types if t in ("run.succeeded", "run.failed", "run.cancelled")]
    assert len(terminal) == 1 and types[-1] == terminal[0], types


def run_status(platform: Platform, run_id: str) -> str | None:
    with platform.db.sessions() as session:
        return session.scalar(select(Run.status).where(Run.id == run_id))


def load_settings_of(env: dict[str, str], data_dir: Path) -> Any:
    """The settings of ``env`` (as ``PLAIT_*`` variables) for an in-test process."""
    names = {key.removeprefix("PLAIT_").lower(): value for key, value in env.items()}
    return load_settings(data_dir=data_dir, **names)
