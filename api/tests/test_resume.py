"""Interrupted runs: SIGKILL then ``plait resume``, and Ctrl-C cancelling a run cleanly.

Each test starts ``plait run --events`` in a real subprocess and waits — on the events
file, never on the clock — until the run is parked in a long delay, then kills or
interrupts it. Assertions are on events and exit codes, never on wall time.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from clikit import PLAIT, REPO, edge, flow_doc, node, read_events, subprocess_env

pytestmark = pytest.mark.slow

# Long enough that a busy machine cannot finish it before the test kills the process;
# resume then waits only for what is left of it.
DELAY_S = 4


def _delay_flow(path: Path, seconds: float = DELAY_S, greeting: str = "done for") -> Path:
    doc = flow_doc(
        [
            node("start", "trigger.manual"),
            node("prep", "data.set", {"values": {"who": "{{ inputs.input.name }}"}}),
            node("wait", "util.delay", {"seconds": seconds}),
            node("done", "data.template", {"template": greeting + " {{ input.who }}"}),
        ],
        [
            edge("e1", "start", "payload", "prep", "input"),
            edge("e2", "prep", "output", "wait", "input"),
            edge("e3", "wait", "output", "done", "input"),
        ],
    )
    path.write_text(json.dumps(doc, indent=2))
    return path


def _start(flow: Path, events: Path, data_dir: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*PLAIT, "run", str(flow), "--input", '{"name": "Ada"}', "--events", str(events), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(data_dir),
        cwd=REPO,
    )


def _wait_for_event(
    proc: subprocess.Popen[str], events: Path, etype: str, node_id: str, limit_s: float = 60
) -> None:
    """Poll the events file until it holds ``etype`` for ``node_id`` (a bounded wait)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if events.exists() and any(
            e["type"] == etype and e.get("node_id") == node_id for e in read_events(events)
        ):
            return
        if proc.poll() is not None:
            pytest.fail(f"plait exited early ({proc.returncode}): {proc.stderr.read()}")  # type: ignore[union-attr]
        time.sleep(0.02)
    proc.kill()
    pytest.fail(f"no {etype} for {node_id} in {events} after {limit_s} s")


def _run_events(events: Path, run_id: str) -> list[dict[str, Any]]:
    return [e for e in read_events(events) if e["run_id"] == run_id]


def test_resume_after_sigkill_finishes_without_rerunning(
    tmp_path: Path, data_dir: Path, plait_proc: Any
) -> None:
    flow = _delay_flow(tmp_path / "slow.json")
    events = tmp_path / "events.jsonl"
    # A finished run in the same file first: resume must pick the unfinished one.
    quick = _delay_flow(tmp_path / "quick.json", 0)
    finished = plait_proc("run", quick, "-i", '{"name": "Bo"}', "--events", events)
    assert finished.returncode == 0

    proc = _start(flow, events, data_dir)
    _wait_for_event(proc, events, "node.suspended", "wait")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    killed = [e for e in read_events(events) if e["type"] == "run.started"][-1]["run_id"]
    before = _run_events(events, killed)
    assert not any(e["type"].startswith("run.") and e["seq"] > 1 for e in before)

    resumed = plait_proc("resume", flow, "--events", events, "--json")
    assert resumed.returncode == 0, resumed.stderr
    doc = json.loads(resumed.stdout)
    assert doc["run_id"] == killed
    assert doc["status"] == "succeeded"
    assert doc["outputs"] == {"done": {"text": "done for Ada"}}

    run = _run_events(events, killed)
    assert [e["seq"] for e in run] == list(range(1, len(run) + 1))
    assert run[-1]["type"] == "run.succeeded"
    assert run[: len(before)] == before  # resume appends; it never rewrites history
    starts = Counter(e["node_id"] for e in run if e["type"] == "node.started")
    # Nodes that had succeeded before the kill did not run again; the node that was
    # waiting started over (and waited only for the rest of its delay).
    assert starts == {"start": 1, "prep": 1, "wait": 2, "done": 1}
    succeeded = Counter(e["node_id"] for e in run if e["type"] == "node.succeeded")
    assert succeeded == {"start": 1, "prep": 1, "wait": 1, "done": 1}
    suspended = [e for e in run if e["type"] == "node.suspended"]
    assert len({e["data"]["until"] for e in suspended}) == 1  # the same wake-up time

    # Nothing is left to resume now; asking again for that run shows its result.
    again = plait_proc("resume", flow, "--events", events)
    assert again.returncode == 2
    assert "nothing to resume" in again.stderr
    shown = plait_proc("resume", flow, "--events", events, "--run-id", killed, "--json")
    assert shown.returncode == 0
    assert json.loads(shown.stdout)["outputs"] == doc["outputs"]


def test_resume_refuses_a_changed_flow(tmp_path: Path, data_dir: Path, plait_proc: Any) -> None:
    flow = _delay_flow(tmp_path / "slow.json", seconds=60)
    events = tmp_path / "events.jsonl"
    proc = _start(flow, events, data_dir)
    _wait_for_event(proc, events, "node.suspended", "wait")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)

    _delay_flow(flow, seconds=60, greeting="finished for")  # edited after the run started
    resumed = plait_proc("resume", flow, "--events", events)
    assert resumed.returncode == 2
    assert "has changed since run" in resumed.stderr
    assert len(resumed.stderr.splitlines()) == 1


def test_resume_unknown_run(tmp_path: Path, plait_proc: Any) -> None:
    flow = _delay_flow(tmp_path / "quick.json", 0)
    events = tmp_path / "events.jsonl"
    assert plait_proc("run", flow, "-i", '{"name": "Bo"}', "--events", events).returncode == 0
    proc = plait_proc("resume", flow, "--events", events, "--run-id", "nope")
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: no run 'nope' in")


def test_resume_after_a_torn_write(tmp_path: Path, data_dir: Path, plait_proc: Any) -> None:
    # A crash in the middle of writing an event leaves a partial last line; it was
    # never acknowledged, so resume drops it and carries on from the last whole event.
    flow = _delay_flow(tmp_path / "slow.json", seconds=0.5)
    events = tmp_path / "events.jsonl"
    proc = _start(flow, events, data_dir)
    _wait_for_event(proc, events, "node.suspended", "wait")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    with events.open("a") as fh:
        fh.write('{"run_id": "torn", "seq": 99, "ty')

    resumed = plait_proc("resume", flow, "--events", events, "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["status"] == "succeeded"
    assert all(e["run_id"] != "torn" for e in read_events(events))


def test_ctrl_c_cancels_the_run_cleanly(tmp_path: Path, data_dir: Path) -> None:
    flow = _delay_flow(tmp_path / "slow.json", seconds=60)
    events = tmp_path / "events.jsonl"
    proc = _start(flow, events, data_dir, "--json")
    _wait_for_event(proc, events, "node.suspended", "wait")
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)

    assert proc.returncode == 130
    assert "Traceback" not in stderr
    doc = json.loads(stdout)
    assert doc["status"] == "cancelled"
    assert doc["nodes"]["wait"]["status"] == "cancelled"
    run = _run_events(events, doc["run_id"])
    assert run[-1]["type"] == "run.cancelled"  # durable: the run is over, not resumable
