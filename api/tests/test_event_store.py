"""The database event store: group commit, the runs row in step, durability rules.

Transactions are counted with a SQLAlchemy ``commit`` listener on the real engine, on
SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from runkit import add_flow, chain, node, register_test_nodes
from sqlalchemy import event, select

from plait.api.db.models import Flow, Run, RunEventRow
from plait.api.platform import Platform
from plait.api.runs.store import DatabaseEventStore
from plait.node_runner import events as ev
from plait.node_runner.compiler import compile_flow
from plait.node_runner.engine import Executor
from plait.node_runner.events import RunEvent


@contextmanager
def counting_commits(platform: Platform) -> Iterator[list[int]]:
    """A one-item list holding the number of commits on the platform's engine."""
    count = [0]

    def on_commit(_: Any) -> None:
        count[0] += 1

    event.listen(platform.db.engine, "commit", on_commit)
    try:
        yield count
    finally:
        event.remove(platform.db.engine, "commit", on_commit)


def queued_runs(platform: Platform, n: int) -> list[str]:
    """``n`` run rows, queued, of one flow."""
    flow_id = add_flow(platform, "alpha", chain(node("a", "data.set")))
    with platform.db.session() as session:
        flow = session.get(Flow, flow_id)
        assert flow is not None
        runs = [
            Run(workspace_id=flow.workspace_id, flow_id=flow_id, bundle_id="x") for _ in range(n)
        ]
        session.add_all(runs)
        session.flush()
        return [r.id for r in runs]


def events_in_db(platform: Platform, run_id: str) -> list[int]:
    with platform.db.session() as session:
        return list(
            session.scalars(
                select(RunEventRow.seq).where(RunEventRow.run_id == run_id).order_by("seq")
            )
        )


async def test_concurrent_flushes_share_one_transaction(any_platform: Platform) -> None:
    runs = queued_runs(any_platform, 5)
    store = DatabaseEventStore(any_platform.db, linger_s=0)
    for run_id in runs:
        for seq in range(1, 11):
            store.append(RunEvent(run_id, seq, ev.NODE_LOG, data={"message": str(seq)}))
    with counting_commits(any_platform) as commits:
        await asyncio.gather(*(store.flush() for _ in runs))
    assert commits[0] == 1 and store.batches == 1 and store.events_written == 50
    for run_id in runs:
        assert events_in_db(any_platform, run_id) == list(range(1, 11))


async def test_events_appended_during_a_write_ride_the_next_one(any_platform: Platform) -> None:
    run_a, run_b = queued_runs(any_platform, 2)
    store = DatabaseEventStore(any_platform.db, linger_s=0)
    store.append(RunEvent(run_a, 1, ev.NODE_LOG))
    with counting_commits(any_platform) as commits:
        first = asyncio.ensure_future(store.flush())
        # One loop turn for the flush to start the write, one for the write to take the
        # buffer (asyncio runs ready tasks in order): run_a's event is in flight now.
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        for seq in range(1, 6):
            store.append(RunEvent(run_b, seq, ev.NODE_LOG))
        flushes = [asyncio.ensure_future(store.flush()) for _ in range(5)]
        await asyncio.gather(first, *flushes)
    assert commits[0] == 2  # one for the first event, one for the five that waited
    assert events_in_db(any_platform, run_b) == [1, 2, 3, 4, 5]
    assert store.pending == 0


async def test_many_runs_cost_far_fewer_transactions_than_flushes(any_platform: Platform) -> None:
    """Twenty runs of a chain with a non-idempotent node, started together: the engine
    flushes each run several times; the store shares transactions among them."""
    document = chain(
        node("a", "data.set", {"values": {"n": "{{ inputs.input }}"}}),
        node("b", "test.counter"),
        node("c", "data.set"),
    )
    register_test_nodes(any_platform)
    bundle = compile_flow(document, any_platform.registry)
    runs = queued_runs(any_platform, 20)
    store = DatabaseEventStore(any_platform.db, linger_s=0)
    flushes = 0
    real_flush = store.flush

    async def counted_flush() -> None:
        nonlocal flushes
        flushes += 1
        await real_flush()

    store.flush = counted_flush  # type: ignore[method-assign]
    executor = Executor(any_platform.registry, store=store)
    with counting_commits(any_platform) as commits:
        results = await asyncio.gather(
            *(executor.run(bundle, i, run_id=run_id) for i, run_id in enumerate(runs))
        )
    assert all(r.succeeded for r in results)
    # Each run flushes at least 4 times (start, around the counter, end).
    assert flushes >= 4 * len(runs)
    # Runs in step share their transactions: fewer in all than there are runs.
    assert commits[0] == store.batches < len(runs)
    for run_id in runs:
        seqs = events_in_db(any_platform, run_id)
        assert seqs == list(range(1, len(seqs) + 1))


async def test_the_runs_row_follows_started_and_terminal_events(any_platform: Platform) -> None:
    (run_id,) = queued_runs(any_platform, 1)
    durable: list[list[int]] = []
    store = DatabaseEventStore(
        any_platform.db,
        outcome=lambda rid: {"a": {"output": rid}},
        on_durable=lambda batch: durable.append([e.seq for e in batch]),
        linger_s=0,
    )
    store.append(RunEvent(run_id, 1, ev.RUN_STARTED, data={"payload": None}, ts=1_700_000_000))
    await store.flush()
    with any_platform.db.session() as session:
        run = session.get(Run, run_id)
        assert run is not None and run.status == "running" and run.started_at is not None
        assert run.finished_at is None
    error = {"kind": "test", "message": "boom"}
    store.append(RunEvent(run_id, 2, ev.RUN_FAILED, data={"error": error}))
    await store.flush()
    with any_platform.db.session() as session:
        run = session.get(Run, run_id)
        assert run is not None and run.status == "failed" and run.error == error
        assert run.result == {"a": {"output": run_id}} and run.finished_at is not None
    assert durable == [[1], [2]]
    assert [e.seq for e in await store.load(run_id)] == [1, 2]


async def test_events_of_a_deleted_run_are_dropped_not_the_batch(any_platform: Platform) -> None:
    kept, deleted = queued_runs(any_platform, 2)
    with any_platform.db.session() as session:
        session.delete(session.get(Run, deleted))
    store = DatabaseEventStore(any_platform.db, linger_s=0)
    store.append(RunEvent(kept, 1, ev.NODE_LOG))
    store.append(RunEvent(deleted, 1, ev.NODE_LOG))
    await store.flush()
    assert events_in_db(any_platform, kept) == [1]
    assert store.pending == 0 and store.events_written == 1


async def test_unflushed_events_are_written_after_the_linger(platform: Platform) -> None:
    (run_id,) = queued_runs(platform, 1)
    store = DatabaseEventStore(platform.db, linger_s=0.01)
    store.append(RunEvent(run_id, 1, ev.NODE_LOG))
    for _ in range(500):  # bounded: 5 s at most
        if store.pending == 0:
            break
        await asyncio.sleep(0.01)
    assert events_in_db(platform, run_id) == [1]


async def test_a_closed_store_drops_appends_and_refuses_to_flush(platform: Platform) -> None:
    (run_id,) = queued_runs(platform, 1)
    store = DatabaseEventStore(platform.db, linger_s=0)
    store.append(RunEvent(run_id, 1, ev.NODE_LOG))
    await store.flush()
    store.append(RunEvent(run_id, 2, ev.NODE_LOG))
    store.close()
    store.append(RunEvent(run_id, 3, ev.NODE_LOG))
    await store.flush()  # nothing was pending when it closed that it owes anyone
    assert events_in_db(platform, run_id) == [1]
    assert store.pending == 0
