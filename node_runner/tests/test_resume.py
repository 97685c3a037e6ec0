"""Crash and resume: a run killed mid-flight resumes from its durable events.

The child process runs a flow with a file event store and dies (``os._exit``) inside node
k; a new executor in this process rebuilds the run from the file and finishes it without
running any node that had succeeded.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import testnodes
from flowkit import bundle, node
from plait.node_runner import events as ev
from plait.node_runner.engine import Executor, RunError
from plait.node_runner.events import JsonlEventStore
from plait.node_runner.state import RunStatus, rebuild

TESTS = Path(__file__).parent

CHILD = textwrap.dedent(
    """
    import asyncio, json, sys
    sys.path.insert(0, {tests!r})
    from flowkit import bundle
    from plait.node_runner.engine import Executor
    from plait.node_runner.events import JsonlEventStore
    import testnodes

    nodes, edges = json.loads({spec!r})
    ex = Executor(testnodes.registry(), store=JsonlEventStore({events!r}))
    asyncio.run(ex.run(bundle(nodes, edges), 0, run_id="crashy"))
    """
)


def chain(n: int, record: Path, marker: Path, crash_at: int) -> tuple[list, list]:
    nodes = [node("s", "start")]
    for i in range(1, n + 1):
        params = {"path": str(record)}
        if i == crash_at:
            params["crash_marker"] = str(marker)
        nodes.append(node(f"n{i}", "record", params=params))
    edges = ["s.payload -> n1.input"] + [f"n{i}.output -> n{i + 1}.input" for i in range(1, n)]
    return nodes, edges


def start_child(tmp_path: Path, nodes: list, edges: list) -> subprocess.Popen[bytes]:
    script = CHILD.format(
        tests=str(TESTS), spec=json.dumps([nodes, edges]), events=str(tmp_path / "events.jsonl")
    )
    return subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path)


@pytest.mark.slow
async def test_killed_run_resumes_without_rerunning_succeeded_nodes(tmp_path: Path) -> None:
    record, marker = tmp_path / "record.txt", tmp_path / "crash.marker"
    nodes, edges = chain(10, record, marker, crash_at=6)
    child = start_child(tmp_path, nodes, edges)
    assert child.wait(timeout=60) == 17  # died inside n6
    assert record.read_text().split() == [f"n{i}" for i in range(1, 6)]

    store = JsonlEventStore(tmp_path / "events.jsonl")
    before = rebuild(await store.load("crashy"))
    assert before.status is RunStatus.RUNNING
    assert before.nodes["n6"].status == "running"  # flushed before a non-idempotent start

    ex = Executor(testnodes.registry(), store=store)
    result = await ex.resume(bundle(nodes, edges), "crashy")
    assert result.status is RunStatus.SUCCEEDED
    assert result.output("n10", "output") == 10
    # Every node ran exactly once, n1..n5 before the crash and n6..n10 after it.
    assert record.read_text().split() == [f"n{i}" for i in range(1, 11)]

    events = await store.load("crashy")
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert rebuild(events).summary() == result.state.summary()
    succeeded = [e.node_id for e in events if e.type == ev.NODE_SUCCEEDED]
    assert len(succeeded) == len(set(succeeded)) == 11


@pytest.mark.slow
async def test_sigkilled_suspended_run_resumes_its_timer(tmp_path: Path) -> None:
    nodes = [node("s", "start"), node("nap", "nap", params={"seconds": 0.6}), node("after", "echo")]
    edges = ["s.payload -> nap.input", "nap.output -> after.input"]
    child = start_child(tmp_path, nodes, edges)
    events_file = tmp_path / "events.jsonl"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if events_file.exists() and '"node.suspended"' in events_file.read_text():
            break
        await asyncio.sleep(0.01)
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=10)

    store = JsonlEventStore(events_file)
    state = rebuild(await store.load("crashy"))
    assert state.nodes["nap"].status == "suspended"
    result = await Executor(testnodes.registry(), store=store).resume(
        bundle(nodes, edges), "crashy"
    )
    assert result.status is RunStatus.SUCCEEDED
    assert result.output("after", "output") == 0
    # The timer was not started again: one suspension, keyed by its call number.
    suspended = [e for e in await store.load("crashy") if e.type == ev.NODE_SUSPENDED]
    assert len({e.data["until"] for e in suspended}) == 1


async def test_resume_of_a_finished_run_returns_its_state(tmp_path: Path) -> None:
    store = JsonlEventStore(tmp_path / "e.jsonl")
    ex = Executor(testnodes.registry(), store=store)
    b = bundle([node("s", "start"), node("a", "echo")], ["s.payload -> a.input"])
    first = await ex.run(b, 5, run_id="done")
    again = await Executor(testnodes.registry(), store=store).resume(b, "done")
    assert again.status is RunStatus.SUCCEEDED
    assert again.state.summary() == first.state.summary()
    with pytest.raises(RunError, match="no events"):
        await ex.resume(b, "unknown")


async def test_torn_last_line_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    store = JsonlEventStore(path)
    ex = Executor(testnodes.registry(), store=store)
    b = bundle([node("s", "start"), node("a", "echo")], ["s.payload -> a.input"])
    await ex.run(b, 5, run_id="torn")
    with open(path, "a") as fh:
        fh.write('{"run_id": "torn", "seq": 99, "ty')
    events = await JsonlEventStore(path).load("torn")
    assert events[-1].type == ev.RUN_SUCCEEDED


async def test_appending_after_a_torn_line_keeps_every_later_event(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    b = bundle([node("s", "start"), node("a", "echo")], ["s.payload -> a.input"])
    await Executor(testnodes.registry(), store=JsonlEventStore(path)).run(b, 1, run_id="one")
    with open(path, "a") as fh:
        fh.write('{"run_id": "one", "seq": 99, "ty')  # a crash mid-write
    store = JsonlEventStore(path)
    await Executor(testnodes.registry(), store=store).run(b, 2, run_id="two")
    assert store.run_ids() == ["one", "two"]
    assert (await store.load("two"))[-1].type == ev.RUN_SUCCEEDED
    assert path.read_text().count("\n") == len(store.read_all())


async def test_a_payload_with_a_lone_surrogate_is_stored(tmp_path: Path) -> None:
    store = JsonlEventStore(tmp_path / "e.jsonl")
    b = bundle([node("s", "start"), node("a", "echo")], ["s.payload -> a.input"])
    result = await Executor(testnodes.registry(), store=store).run(b, "x\ud800y", run_id="s")
    assert result.output("a", "output") == "x\ud800y"
    assert rebuild(await store.load("s")).nodes["a"].outputs == {"output": "x\ud800y"}


async def test_a_node_that_times_out_while_suspended_is_timed_out() -> None:
    result = await Executor(testnodes.registry()).run(
        bundle(
            [
                node("s", "start"),
                node("nap", "nap", params={"seconds": 5}, timeout_s=0.05, on_error="error_port"),
                node("fallback", "echo", params={"value": "late"}),
            ],
            ["s.payload -> nap.input", "nap.error -> fallback.input"],
        ),
        None,
    )
    assert result.status is RunStatus.SUCCEEDED
    assert result.node_status("nap") == "timed_out"
    assert result.output("fallback", "output") == "late"


@pytest.mark.slow
async def test_service_steps_that_succeeded_are_replayed_not_called_again(tmp_path: Path) -> None:
    record, marker = tmp_path / "record.txt", tmp_path / "crash.marker"
    nodes = [
        node("s", "start"),
        node("agent", "crash_agent", params={"crash_marker": str(marker)}),
        node("tool", "record", params={"path": str(record)}),
    ]
    edges = ["s.payload -> agent.input", "tool.output ~tool> agent.tools"]
    child = start_child(tmp_path, nodes, edges)
    assert child.wait(timeout=60) == 17  # the agent died after its tool call
    assert record.read_text().split() == ["tool"]

    store = JsonlEventStore(tmp_path / "events.jsonl")
    result = await Executor(testnodes.registry(), store=store).resume(
        bundle(nodes, edges), "crashy"
    )
    assert result.status is RunStatus.SUCCEEDED
    assert result.output("agent", "results") == [{"output": 1}]
    assert record.read_text().split() == ["tool"]  # replayed from step.succeeded
