"""Schedulers as real processes on PostgreSQL: two at once, one SIGKILLed again and again,
and the scheduler inside ``plait serve``.

Cron has minute resolution, so the processes run on the test clock
(``PLAIT_SCHEDULER_CLOCK=<start>@<speed>@<epoch>``): at 600 times real speed a
per-minute schedule fires ten times a second. The runs table is the judge: exactly one
run per expected fire time, none missing, none twice.
"""

from __future__ import annotations

import queue
import random
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from clikit import PLAIT, REPO, subprocess_env
from serverkit import platform_on, running_server
from servicekit import postgres_database
from sqlalchemy import select

from plait.api.db.models import Run, ScheduleState
from plait.api.platform import Platform
from plait.api.scheduling.cron import fire_times_between
from plait.api.services import auth, flows, projects, publish
from plait.api.services import schedules as service
from plait.api.settings import load_settings

pytestmark = pytest.mark.slow

SPEED = 600  # ten clock minutes per real second
READY_TIMEOUT_S = 60
FIRINGS_TIMEOUT_S = 90


def schedule_flow(**params: Any) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "name": "Every minute",
        "nodes": [
            {
                "id": "tick",
                "type": "trigger.schedule",
                "version": 1,
                "params": {"cron": "* * * * *", "timezone": "America/New_York", **params},
            },
            {"id": "note", "type": "data.template", "version": 1,
             "params": {"template": "{{ inputs.input }}"}},
        ],
        "edges": [
            {"id": "e1", "source": "tick", "source_port": "fired_at_local", "target": "note",
             "target_port": "input"}
        ],
    }  # fmt: skip


def seed(platform: Platform, document: dict[str, Any]) -> datetime:
    """Publish ``document`` on prod of a new project; its publication time (UTC)."""
    settings = platform.settings
    with platform.db.session() as session:
        workspace = auth.get_or_create_workspace(session, "alpha")
        project = projects.create(session, workspace.id, name="Clock", slug="clock")
        canonical = flows.canonical(document, platform.registry, max_bytes=settings.max_flow_bytes)
        flow = flows.create(session, project, canonical)
        view = publish.publish(
            session,
            flow,
            "prod",
            registry=platform.registry,
            blobs=platform.blobs,
            user_id=None,
            max_bytes=settings.max_flow_bytes,
        )
        published_at = view.publication.published_at
    return published_at.astimezone(UTC)


@pytest.fixture
def pg_platform(tmp_path: Path) -> Iterator[Platform]:
    with postgres_database() as url:
        platform = Platform(load_settings(data_dir=tmp_path / "data", database_url=url))
        platform.migrate()
        try:
            yield platform
        finally:
            platform.db.dispose()


class SchedulerProcess:
    """``plait scheduler`` as a subprocess; ``ready`` once it printed its ready line."""

    def __init__(self, platform: Platform, clock: str, log: Path) -> None:
        env = subprocess_env(platform.settings.data_dir)
        env.update(
            PLAIT_DATABASE_URL=str(platform.settings.database_url),
            PLAIT_SCHEDULER_CLOCK=clock,
            PLAIT_SCHEDULER_TICK_S="0.05",
            PLAIT_SCHEDULER_CATCH_UP_MAX="1000",
            PLAIT_RUN_WORKERS="4",
        )
        self.log = log
        with open(log, "a") as stderr:
            self.proc = subprocess.Popen(
                [*PLAIT, "scheduler"],
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env=env,
                cwd=REPO,
            )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_ready(self) -> str:
        try:
            line = self.lines.get(timeout=READY_TIMEOUT_S)
        except queue.Empty:
            raise AssertionError(f"no ready line:\n{self.log.read_text()}") from None
        assert line is not None, f"exited {self.proc.wait()}:\n{self.log.read_text()}"
        return line

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=30)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)


@contextmanager
def schedulers(*procs: SchedulerProcess) -> Iterator[None]:
    """Kill whatever is still running on the way out, whatever happened."""
    try:
        yield
    finally:
        for proc in procs:
            proc.kill()


def scheduled_runs(platform: Platform) -> list[Run]:
    with platform.db.sessions() as session:
        rows = list(session.scalars(select(Run).where(Run.trigger == "schedule")))
        session.expunge_all()
    return rows


def wait_for_runs(platform: Platform, count: int, procs: list[SchedulerProcess]) -> None:
    deadline = time.monotonic() + FIRINGS_TIMEOUT_S
    while len(scheduled_runs(platform)) < count:
        for proc in procs:
            assert proc.proc.poll() is None, f"a scheduler died:\n{proc.log.read_text()}"
        assert time.monotonic() < deadline, f"fewer than {count} firings in time"
        time.sleep(0.2)


def assert_each_firing_once(platform: Platform, published_at: datetime) -> list[datetime]:
    """Exactly one run per fire time from the first after publishing to the newest."""
    runs = scheduled_runs(platform)
    fired = sorted(datetime.fromisoformat(r.input["fired_at"]) for r in runs)
    assert len(fired) == len(set(fired)), "a firing started twice"
    assert len({r.idempotency_key for r in runs}) == len(runs)
    expected = fire_times_between("* * * * *", "America/New_York", published_at, fired[-1])
    missing = sorted(set(expected) - set(fired))
    assert not missing, f"{len(missing)} firing(s) missing, first {missing[:3]}"
    assert fired == expected
    with platform.db.sessions() as session:
        (state,) = session.scalars(select(ScheduleState)).all()
        checked = state.checked_through
        assert checked is not None
        assert checked.astimezone(UTC) == fired[-1]
    return fired


# Several process starts on shared cores: a wider bound than the default.
@pytest.mark.timeout(300)
def test_two_scheduler_processes_fire_every_firing_exactly_once(pg_platform, tmp_path):
    published_at = seed(pg_platform, schedule_flow(misfire="catch_up", catch_up_max=1000))
    # The clock reads the publication time a few seconds from now, so both processes
    # are up before the first firing is due and they race for every one.
    clock = f"{published_at.isoformat()}@{SPEED}@{time.time() + 5}"
    first = SchedulerProcess(pg_platform, clock, tmp_path / "first.log")
    second = SchedulerProcess(pg_platform, clock, tmp_path / "second.log")
    with schedulers(first, second):
        assert "plait scheduler ready: 1 published schedule(s)" in first.wait_ready()
        second.wait_ready()
        wait_for_runs(pg_platform, 150, [first, second])
        assert first.stop() == 0 and second.stop() == 0

    fired = assert_each_firing_once(pg_platform, published_at)
    assert len(fired) >= 150
    # The local timestamp in each run's input is the same instant in New York.
    for run in scheduled_runs(pg_platform)[:5]:
        local = datetime.fromisoformat(run.input["fired_at_local"])
        assert local == datetime.fromisoformat(run.input["fired_at"])
        assert local.utcoffset() == timedelta(hours=-5)


# Several process starts on shared cores: a wider bound than the default.
@pytest.mark.timeout(300)
def test_a_scheduler_killed_mid_firing_fires_each_firing_exactly_once(pg_platform, tmp_path):
    published_at = seed(pg_platform, schedule_flow(misfire="catch_up", catch_up_max=1000))
    clock = f"{published_at.isoformat()}@{SPEED}@{time.time()}"
    rng = random.Random(6)
    log = tmp_path / "scheduler.log"
    killed = 0
    with ExitStack() as stack:
        # SIGKILL at random moments while firings are due (ten a second): most kills
        # land inside a tick, many inside a firing's transaction.
        for _ in range(6):
            proc = SchedulerProcess(pg_platform, clock, log)
            stack.enter_context(schedulers(proc))
            proc.wait_ready()
            time.sleep(rng.uniform(0.2, 1.5))
            proc.proc.send_signal(signal.SIGKILL)
            assert proc.proc.wait(timeout=30) == -signal.SIGKILL
            killed += 1
        before = len(scheduled_runs(pg_platform))
        last = SchedulerProcess(pg_platform, clock, log)
        stack.enter_context(schedulers(last))
        last.wait_ready()
        wait_for_runs(pg_platform, before + 30, [last])
        # Pause, so the runs stop coming, and let the last process execute what the
        # killed ones committed but never ran.
        with pg_platform.db.session() as session:
            (view,) = service.active_schedules(session)
            service.pause(session, view, user_id=None)
        deadline = time.monotonic() + FIRINGS_TIMEOUT_S
        while any(r.status in ("queued", "running") for r in scheduled_runs(pg_platform)):
            assert time.monotonic() < deadline, "runs left queued after the restarts"
            time.sleep(0.2)
        assert last.stop() == 0

    assert killed == 6
    fired = assert_each_firing_once(pg_platform, published_at)
    assert len(fired) >= 30
    statuses = {r.status for r in scheduled_runs(pg_platform)}
    assert statuses == {"succeeded"}, log.read_text()[-3000:]


def test_plait_serve_fires_schedules_and_runs_them(tmp_path):
    data_dir = tmp_path / "serve-data"
    with platform_on(data_dir) as platform:
        platform.migrate()
        published_at = seed(platform, schedule_flow())
    clock = f"{published_at.isoformat()}@{SPEED}@{time.time()}"
    with running_server(data_dir, "--no-sample", env={"PLAIT_SCHEDULER_CLOCK": clock}) as server:
        with platform_on(data_dir) as platform:
            deadline = time.monotonic() + FIRINGS_TIMEOUT_S
            while not [r for r in scheduled_runs(platform) if r.status == "succeeded"]:
                assert time.monotonic() < deadline, server.stderr
                time.sleep(0.2)
            run = next(r for r in scheduled_runs(platform) if r.status == "succeeded")
            assert run.trigger_node == "tick" and run.stage == "prod"
            assert run.result is not None
        code, _ = server.stop()
        assert code == 0


def test_serve_can_leave_scheduling_to_a_scheduler_process(plait_proc):
    result = plait_proc("serve", "--help")

    assert result.returncode == 0
    assert "--no-scheduler" in result.stdout
