"""Executor semantics: node states, edges, joins, retries, timeouts, errors, cancellation."""

from __future__ import annotations

import asyncio

import pytest

import testnodes
from flowkit import bundle, node, run, statuses
from plait.node_runner import events as ev
from plait.node_runner.engine import (
    BundleChildRuns,
    Executor,
    RunError,
    RunServices,
    seeds_from_run,
)
from plait.node_runner.events import InMemoryEventStore
from plait.node_runner.services import InMemorySecrets
from plait.node_runner.state import NodeStatus, RunStatus, rebuild


def types_of(store: InMemoryEventStore, run_id: str) -> list[tuple[str, str | None]]:
    return [(e.type, e.node_id) for e in store.events(run_id)]


async def test_chain_passes_values_and_succeeds() -> None:
    result = await run(
        [node("s", "start"), node("a", "add", params={"amount": 2}), node("b", "add")],
        ["s.payload -> a.n", "a.n -> b.n"],
        payload=1,
    )
    assert result.status is RunStatus.SUCCEEDED
    assert result.outputs() == {"b": {"n": 4}}
    assert statuses(result) == {"s": "succeeded", "a": "succeeded", "b": "succeeded"}


async def test_events_are_ordered_and_fold_to_the_live_state() -> None:
    ex = Executor(testnodes.registry())
    result = await run(
        [node("s", "start"), node("a", "echo"), node("b", "echo")],
        ["s.payload -> a.input", "a.output -> b.input"],
        payload="x",
        executor=ex,
    )
    events = ex.store.events(result.run_id)  # type: ignore[attr-defined]
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[0].type == ev.RUN_STARTED and events[-1].type == ev.RUN_SUCCEEDED
    rebuilt = rebuild(events)
    assert rebuilt.summary() == result.state.summary()


async def test_unset_port_skips_downstream_and_merge_gets_active_values() -> None:
    nodes = [
        node("s", "start"),
        node("if", "branch", params={"condition": "{{ trigger.payload > 5 }}"}),
        node("big", "echo", params={"value": "big"}),
        node("small", "echo", params={"value": "small"}),
        node("after_small", "echo"),
        node("m", "collect"),
    ]
    edges = [
        "s.payload -> if.input",
        "if.yes -> big.input",
        "if.no -> small.input",
        "small.output -> after_small.input",
        "big.output -> m.items",
        "after_small.output -> m.items",
    ]
    result = await run(nodes, edges, payload=10)
    assert statuses(result)["small"] == "skipped"
    assert statuses(result)["after_small"] == "skipped"  # skipping cascades
    assert result.output("m", "items") == ["big"]
    result = await run(nodes, edges, payload=1)
    assert statuses(result)["big"] == "skipped"
    assert result.output("m", "items") == ["small"]


async def test_multi_edge_input_keeps_edge_order() -> None:
    nodes = [node("s", "start")] + [node(f"v{i}", "echo", params={"value": i}) for i in range(5)]
    nodes.append(node("m", "collect"))
    edges = [f"s.payload -> v{i}.input" for i in range(5)]
    edges += [f"v{i}.output -> m.items" for i in (3, 1, 4, 0, 2)]
    result = await run(nodes, edges)
    assert result.output("m", "items") == [3, 1, 4, 0, 2]


async def test_failure_stops_the_run_abandons_downstream_and_cancels_the_rest() -> None:
    result = await run(
        [
            node("s", "start"),
            node("bad", "fail"),
            node("after", "echo"),
            node("slow", "sleep", params={"seconds": 5}),
            node("after_slow", "echo"),
        ],
        [
            "s.payload -> bad.input",
            "bad.output -> after.input",
            "s.payload -> slow.input",
            "slow.output -> after_slow.input",
        ],
    )
    assert result.status is RunStatus.FAILED
    assert statuses(result) == {
        "s": "succeeded",
        "bad": "failed",
        "after": "abandoned",
        "slow": "cancelled",
        "after_slow": "cancelled",
    }
    assert result.error is not None and result.error["kind"] == "exception"
    assert "RuntimeError: boom" in result.error["message"]
    assert result.error["node_id"] == "bad" and "Traceback" in result.error["traceback"]


async def test_error_port_routes_a_structured_error_and_the_run_succeeds() -> None:
    result = await run(
        [
            node("s", "start"),
            node(
                "bad",
                "fail",
                params={"kind": "http_status", "message": "nope", "status": 404},
                on_error="error_port",
            ),
            node("normal", "echo"),
            node("handler", "echo"),
        ],
        ["s.payload -> bad.input", "bad.output -> normal.input", "bad.error -> handler.input"],
    )
    assert result.status is RunStatus.SUCCEEDED
    assert statuses(result)["bad"] == "failed"
    assert statuses(result)["normal"] == "skipped"  # routed errors leave normal ports unset
    error = result.output("handler", "output")
    assert error["kind"] == "http_status" and error["status"] == 404
    assert error["node_id"] == "bad" and error["attempt"] == 1 and error["message"] == "nope"


async def test_on_error_continue_skips_downstream_and_succeeds() -> None:
    result = await run(
        [node("s", "start"), node("bad", "fail", on_error="continue"), node("after", "echo")],
        ["s.payload -> bad.input", "bad.output -> after.input"],
    )
    assert result.status is RunStatus.SUCCEEDED
    assert statuses(result) == {"s": "succeeded", "bad": "failed", "after": "skipped"}


async def test_retry_with_backoff_records_each_attempt() -> None:
    testnodes.FLAKY_CALLS.clear()
    ex = Executor(testnodes.registry())
    retry = {"max_attempts": 3, "backoff": "exponential", "delay_s": 0.01}
    result = await run(
        [node("s", "start"), node("f", "flaky", params={"key": "r1", "failures": 2}, retry=retry)],
        ["s.payload -> f.input"],
        executor=ex,
    )
    assert result.status is RunStatus.SUCCEEDED
    assert result.output("f", "attempt") == 3
    assert result.state.nodes["f"].attempt == 3
    retrying = [e for e in ex.store.events(result.run_id) if e.type == ev.NODE_RETRYING]
    assert [e.data["attempt"] for e in retrying] == [1, 2]
    assert [e.data["delay_s"] for e in retrying] == [0.01, 0.02]


async def test_retry_gives_up_after_max_attempts() -> None:
    testnodes.FLAKY_CALLS.clear()
    result = await run(
        [
            node("s", "start"),
            node(
                "f",
                "flaky",
                params={"key": "r2", "failures": 5},
                retry={"max_attempts": 2, "delay_s": 0},
            ),
        ],
        ["s.payload -> f.input"],
    )
    assert result.status is RunStatus.FAILED
    assert result.state.nodes["f"].attempt == 2
    assert testnodes.FLAKY_CALLS["r2"] == 2


async def test_errors_outside_retry_on_do_not_retry() -> None:
    testnodes.FLAKY_CALLS.clear()
    result = await run(
        [
            node("s", "start"),
            node(
                "f",
                "flaky",
                params={"key": "r3", "failures": 1, "kind": "validation"},
                retry={"max_attempts": 3, "delay_s": 0},
            ),
        ],
        ["s.payload -> f.input"],
    )
    assert result.status is RunStatus.FAILED
    assert testnodes.FLAKY_CALLS["r3"] == 1


async def test_per_attempt_timeout_then_retry_then_timed_out() -> None:
    result = await run(
        [
            node("s", "start"),
            node(
                "slow",
                "sleep",
                params={"seconds": 5},
                timeout_s=0.05,
                retry={"max_attempts": 2, "delay_s": 0},
                on_error="error_port",
            ),
            node("handler", "echo"),
        ],
        ["s.payload -> slow.input", "slow.error -> handler.input"],
    )
    assert statuses(result)["slow"] == "timed_out"
    assert result.state.nodes["slow"].attempt == 2  # timeouts retry by default
    assert result.output("handler", "output")["kind"] == "timeout"
    assert result.status is RunStatus.SUCCEEDED


async def test_sync_node_timeout() -> None:
    result = await run(
        [node("s", "start"), node("a", "sync_echo", params={"seconds": 1}, timeout_s=0.05)],
        ["s.payload -> a.input"],
    )
    assert statuses(result)["a"] == "timed_out"
    assert result.status is RunStatus.FAILED


async def test_run_timeout_cancels_running_nodes() -> None:
    result = await run(
        [node("s", "start"), node("slow", "sleep", params={"seconds": 10}), node("after", "echo")],
        ["s.payload -> slow.input", "slow.output -> after.input"],
        timeout_s=0.1,
    )
    assert result.status is RunStatus.TIMED_OUT
    assert statuses(result) == {"s": "succeeded", "slow": "cancelled", "after": "cancelled"}
    assert result.error is not None and result.error["kind"] == "run_timeout"


async def test_cancel_a_live_run() -> None:
    ex = Executor(testnodes.registry())
    b = bundle(
        [node("s", "start"), node("slow", "sleep", params={"seconds": 10}), node("after", "echo")],
        ["s.payload -> slow.input", "slow.output -> after.input"],
    )
    task = asyncio.create_task(ex.run(b, None, run_id="r-cancel"))
    while (
        ex.live_state("r-cancel") is None
        or ex.live_state("r-cancel").nodes["slow"].status != "running"
    ):  # type: ignore[union-attr]
        await asyncio.sleep(0.005)
    assert ex.cancel("r-cancel")
    result = await task
    assert result.status is RunStatus.CANCELLED
    assert statuses(result) == {"s": "succeeded", "slow": "cancelled", "after": "cancelled"}
    assert not ex.cancel("r-cancel")  # no longer live


async def test_suspended_node_waits_for_a_signal() -> None:
    ex = Executor(testnodes.registry())
    seen: list[str] = []
    ex.store.listeners.append(lambda e: seen.append(e.type))  # type: ignore[attr-defined]
    b = bundle(
        [node("s", "start"), node("w", "signal"), node("after", "echo")],
        ["s.payload -> w.input", "w.payload -> after.input"],
    )
    task = asyncio.create_task(ex.run(b, None, run_id="r-sig"))
    while ex.live_state("r-sig") is None or ex.live_state("r-sig").nodes["w"].status != "suspended":  # type: ignore[union-attr]
        await asyncio.sleep(0.005)
    assert ex.signal("r-sig", "go", {"ok": True})
    result = await task
    assert result.output("after", "output") == {"ok": True}
    assert ev.NODE_SUSPENDED in seen and ev.NODE_RESUMED in seen


async def test_join_any_runs_on_first_active_edge_and_lets_others_finish() -> None:
    result = await run(
        [
            node("s", "start"),
            node("fast", "sleep", params={"seconds": 0.01}),
            node("slow", "sleep", params={"seconds": 0.2}),
            node("j", "echo", join="any"),
            node("m", "mode", params={"mode": "any"}),
        ],
        [
            "s.payload -> fast.input",
            "s.payload -> slow.input",
            "fast.output -> j.input",
            "slow.output -> j.input",
            "fast.output -> m.inputs",
            "slow.output -> m.inputs",
        ],
        payload="p",
    )
    assert result.status is RunStatus.SUCCEEDED
    assert statuses(result)["slow"] == "succeeded"  # any does not cancel
    assert result.output("m", "output") == ["p"]  # ran with the one active value


async def test_join_first_cancels_the_losing_branch() -> None:
    result = await run(
        [
            node("s", "start"),
            node("fast", "echo", params={"value": "fast"}),
            node("slow1", "sleep", params={"seconds": 5}),
            node("slow2", "echo"),
            node("side", "sleep", params={"seconds": 0.01}),
            node("j", "echo", join="first"),
        ],
        [
            "s.payload -> fast.input",
            "s.payload -> slow1.input",
            "slow1.output -> slow2.input",
            "slow1.output -> side.input",
            "fast.output -> j.input",
            "slow2.output -> j.input",
        ],
    )
    assert result.status is RunStatus.SUCCEEDED
    st = statuses(result)
    assert st["j"] == "succeeded" and result.output("j", "output") == "fast"
    # slow1 also feeds `side`, so it is not only a way into the join: it runs on.
    assert st["slow1"] == "succeeded" and st["side"] == "succeeded"
    assert st["slow2"] == "cancelled"  # pending, and its only way forward is the join


async def test_join_first_cancels_running_nodes_only_feeding_the_join() -> None:
    result = await run(
        [
            node("s", "start"),
            node("fast", "echo", params={"value": "fast"}),
            node("slow1", "sleep", params={"seconds": 5}),
            node("slow2", "echo"),
            node("j", "echo", join="first"),
        ],
        [
            "s.payload -> fast.input",
            "s.payload -> slow1.input",
            "slow1.output -> slow2.input",
            "fast.output -> j.input",
            "slow2.output -> j.input",
        ],
    )
    st = statuses(result)
    assert result.status is RunStatus.SUCCEEDED
    assert st["slow1"] == "cancelled" and st["slow2"] == "cancelled"


async def test_join_all_with_failed_edge_abandons_and_any_with_only_failed_edges_abandons() -> None:
    result = await run(
        [node("s", "start"), node("bad", "fail"), node("ok", "echo"), node("j", "collect")],
        [
            "s.payload -> bad.input",
            "s.payload -> ok.input",
            "bad.output -> j.items",
            "ok.output -> j.items",
        ],
    )
    assert statuses(result)["j"] in ("abandoned", "cancelled")
    assert result.status is RunStatus.FAILED
    result = await run(
        [
            node("s", "start"),
            node("bad", "fail", on_error="continue"),
            node("j", "echo", join="any"),
        ],
        ["s.payload -> bad.input", "bad.output -> j.input"],
    )
    assert statuses(result)["j"] == "skipped"  # continue leaves ports unset: inactive


async def test_join_param_of_merge_like_node_is_its_join() -> None:
    result = await run(
        [
            node("s", "start"),
            node("if", "branch", params={"condition": True}),
            node("m", "mode", params={"mode": "first"}),
        ],
        ["s.payload -> if.input", "if.yes -> m.inputs", "if.no -> m.inputs"],
        payload=7,
    )
    assert result.output("m", "output") == [7]


async def test_required_input_without_active_edge_skips() -> None:
    result = await run(
        [
            node("s", "start"),
            node("if", "branch", params={"condition": False}),
            node("t", "echo", params={"value": 1}),
            node("p", "pair"),
        ],
        ["s.payload -> if.input", "if.yes -> p.n", "s.payload -> t.input", "t.output -> p.extra"],
    )
    # p.extra has a value, but the required p.n does not: skipped, not run with a default.
    assert statuses(result)["p"] == "skipped"
    assert result.status is RunStatus.SUCCEEDED


async def test_other_triggers_are_skipped_and_trigger_can_be_named() -> None:
    ex = Executor(testnodes.registry())
    b = bundle(
        [node("t1", "start"), node("t2", "start"), node("a", "echo"), node("b", "echo")],
        ["t1.payload -> a.input", "t2.payload -> b.input"],
    )
    with pytest.raises(RunError, match="2 triggers"):
        await ex.run(b, 1)
    result = await ex.run(b, 1, trigger="t2")
    assert statuses(result) == {
        "t1": "skipped",
        "t2": "succeeded",
        "a": "skipped",
        "b": "succeeded",
    }
    with pytest.raises(RunError, match="not a trigger"):
        await ex.run(b, 1, trigger="a")


async def test_concurrency_limit_is_respected() -> None:
    ex = Executor(testnodes.registry())
    running = 0
    peak = 0

    def listen(event: ev.RunEvent) -> None:
        nonlocal running, peak
        if event.type == ev.NODE_STARTED:
            running += 1
            peak = max(peak, running)
        elif event.type in (ev.NODE_SUCCEEDED, ev.NODE_FAILED):
            running -= 1

    ex.store.listeners.append(listen)  # type: ignore[attr-defined]
    nodes = [node("s", "start")] + [
        node(f"n{i}", "sleep", params={"seconds": 0.01}) for i in range(12)
    ]
    await run(
        nodes, [f"s.payload -> n{i}.input" for i in range(12)], executor=ex, max_concurrency=3
    )
    assert peak == 3


async def test_expressions_keep_types_and_read_trigger_nodes_secrets_and_run() -> None:
    ex = Executor(testnodes.registry(), secrets=InMemorySecrets({"TOKEN": "t0k"}))
    b = bundle(
        [
            node("s", "start"),
            node("base", "echo", params={"value": "{{ trigger.payload.n }}"}),
            node("a", "add", params={"amount": "{{ trigger.payload.step * 2 }}"}),
            node(
                "t",
                "text",
                params={
                    "text": "{{ nodes.a.n }}|{{ secrets.TOKEN }}|{{ run.id }}|{{ inputs.input }}"
                },
            ),
        ],
        ["s.payload -> base.input", "base.output -> a.n", "a.n -> t.input"],
    )
    result = await ex.run(b, {"n": 4, "step": 3}, run_id="r-expr")
    assert result.output("a", "n") == 10  # "{{ … }}" alone keeps the int type
    assert result.output("t", "text") == "10|t0k|r-expr|10"


async def test_expression_errors_are_node_errors_of_kind_expression() -> None:
    result = await run(
        [node("s", "start"), node("t", "text", params={"text": "{{ inputs.nope.deeper }}"})],
        ["s.payload -> t.input"],
    )
    assert result.status is RunStatus.FAILED
    assert result.error is not None and result.error["kind"] == "expression"
    result = await run(
        [node("s", "start"), node("t", "text", params={"text": "{{ ''.__class__.__mro__ }}"})],
        ["s.payload -> t.input"],
    )
    assert result.error is not None and result.error["kind"] == "expression"


async def test_invalid_params_after_rendering_fail_the_node() -> None:
    result = await run(
        [node("s", "start"), node("a", "add", params={"amount": "{{ 'not a number' }}"})],
        ["s.payload -> a.n"],
        payload=1,
    )
    assert result.error is not None and result.error["kind"] == "invalid_params"


async def test_seeded_nodes_do_not_run_retry_from_failure() -> None:
    testnodes.FLAKY_CALLS.clear()
    ex = Executor(testnodes.registry())
    b = bundle(
        [
            node("s", "start"),
            node("a", "flaky", params={"key": "seed-a", "failures": 0}),
            node("b", "flaky", params={"key": "seed-b", "failures": 1}),
            node("c", "echo"),
        ],
        ["s.payload -> a.input", "a.output -> b.input", "b.output -> c.input"],
    )
    first = await ex.run(b, "v")
    assert first.status is RunStatus.FAILED
    assert testnodes.FLAKY_CALLS == {"seed-a": 1, "seed-b": 1}
    second = await ex.run(b, "v", seeds=seeds_from_run(first.state))
    assert second.status is RunStatus.SUCCEEDED
    assert testnodes.FLAKY_CALLS == {"seed-a": 1, "seed-b": 2}  # a was seeded, not re-run
    assert second.output("c", "output") == "v"


async def test_run_from_a_node_with_pinned_upstream_data() -> None:
    result = await run(
        [node("s", "start"), node("a", "add"), node("b", "add")],
        ["s.payload -> a.n", "a.n -> b.n"],
        payload=1,
    )
    ex = Executor(testnodes.registry())
    b = result.plan.bundle
    pinned = await ex.run(b, None, seeds={"s": {"payload": 1}, "a": {"n": 100}})
    assert pinned.output("b", "n") == 101
    assert statuses(pinned)["a"] == "succeeded"


async def test_service_edges_call_tools_as_durable_steps() -> None:
    ex = Executor(testnodes.registry())
    result = await run(
        [
            node("s", "start"),
            node("agent", "agent"),
            node("tool", "add", params={"amount": 5}),
            node("tool2", "echo", params={"value": "hi"}),
        ],
        [
            "s.payload -> agent.input",
            "tool.n ~tool> agent.tools",
            "tool2.output ~tool> agent.tools",
        ],
        payload=1,
        executor=ex,
    )
    # test.agent passes {"input": ...}; add needs `n`, so that call fails validation
    assert result.status is RunStatus.FAILED
    assert "tool" not in result.state.nodes  # service nodes are not scheduled
    result = await run(
        [node("s", "start"), node("agent", "agent"), node("tool2", "echo", params={"value": "hi"})],
        ["s.payload -> agent.input", "tool2.output ~tool> agent.tools"],
        payload=1,
        executor=ex,
    )
    assert result.output("agent", "results") == [{"output": "hi"}]
    types = [e.type for e in ex.store.events(result.run_id)]  # type: ignore[attr-defined]
    assert ev.STEP_STARTED in types and ev.STEP_SUCCEEDED in types


async def test_sync_nodes_run_in_threads() -> None:
    result = await run(
        [node("s", "start")] + [node(f"n{i}", "sync_echo") for i in range(4)],
        [f"s.payload -> n{i}.input" for i in range(4)],
        payload="z",
    )
    assert result.outputs() == {f"n{i}": {"output": "z"} for i in range(4)}


async def test_every_node_reaches_a_terminal_state() -> None:
    result = await run(
        [node("s", "start"), node("bad", "fail"), node("slow", "sleep", params={"seconds": 2})],
        ["s.payload -> bad.input", "s.payload -> slow.input"],
    )
    assert all(
        rec.status in {NodeStatus.SUCCEEDED, NodeStatus.FAILED, NodeStatus.CANCELLED}
        for rec in result.state.nodes.values()
    )


async def test_child_runs_and_the_key_value_store() -> None:
    ex = Executor(testnodes.registry())
    ex.children = BundleChildRuns(
        ex,
        {
            "double": bundle(
                [node("s", "start"), node("a", "add", params={"amount": 1})], ["s.payload -> a.n"]
            ),
            "broken": bundle([node("s", "start"), node("f", "fail")], ["s.payload -> f.input"]),
        },
    )
    parent = bundle(
        [node("s", "start"), node("c", "child", params={"flow": "double"})],
        ["s.payload -> c.input"],
    )
    first = await ex.run(parent, 41)
    assert first.output("c", "outputs") == {"a": {"n": 42}}
    assert first.output("c", "calls") == 1
    second = await ex.run(parent, 1)
    assert second.output("c", "calls") == 2  # the store outlives a run
    failing = bundle(
        [node("s", "start"), node("c", "child", params={"flow": "broken"})],
        ["s.payload -> c.input"],
    )
    result = await ex.run(failing, 1)
    assert result.error is not None and result.error["kind"] == "child_run"
    assert "boom" in result.error["message"]
    missing = bundle(
        [node("s", "start"), node("c", "child", params={"flow": "nope"})], ["s.payload -> c.input"]
    )
    assert "no flow named 'nope'" in (await ex.run(missing, 1)).error["message"]  # type: ignore[index]


async def test_per_run_services_override_the_executors() -> None:
    ex = Executor(testnodes.registry(), secrets=InMemorySecrets({"TOKEN": "executor"}))
    b = bundle(
        [node("s", "start"), node("t", "text", params={"text": "{{ secrets.TOKEN }}"})],
        ["s.payload -> t.input"],
    )
    assert (await ex.run(b, None)).output("t", "text") == "executor"
    scoped = RunServices(secrets=InMemorySecrets({"TOKEN": "project"}))
    assert (await ex.run(b, None, services=scoped)).output("t", "text") == "project"
