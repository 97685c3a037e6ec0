"""Terse flow building for engine tests: ``edge("a.out -> b.in")``."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import testnodes
from plait.node_runner.compiler import Bundle, build_bundle
from plait.node_runner.engine import Executor, RunResult
from plait.node_runner.flow import Flow, load_flow


def node(node_id: str, type_: str, **fields: Any) -> dict[str, Any]:
    return {"id": node_id, "type": f"test.{type_}" if "." not in type_ else type_, **fields}


def edges(*specs: str) -> list[dict[str, Any]]:
    out = []
    for i, spec in enumerate(specs, 1):
        kind = "data"
        if " ~" in spec:  # "tool.output ~tool> agent.tools"
            left, rest = spec.split(" ~", 1)
            kind, right = rest.split("> ", 1)
        else:
            left, right = spec.split(" -> ")
        source, source_port = left.strip().split(".", 1)
        target, target_port = right.strip().split(".", 1)
        out.append(
            {
                "id": f"e{i}",
                "source": source,
                "source_port": source_port,
                "target": target,
                "target_port": target_port,
                "kind": kind,
            }
        )
    return out


def make_flow(
    nodes: list[dict[str, Any]], edge_specs: list[str] | tuple[str, ...] = (), **extra: Any
) -> Flow:
    return load_flow({"name": "test", "nodes": nodes, "edges": edges(*edge_specs), **extra})


def bundle(
    nodes: list[dict[str, Any]], edge_specs: list[str] | tuple[str, ...] = (), **extra: Any
) -> Bundle:
    return build_bundle(make_flow(nodes, edge_specs, **extra), testnodes.registry())


async def run(
    nodes: list[dict[str, Any]],
    edge_specs: list[str] | tuple[str, ...] = (),
    payload: Any = None,
    *,
    executor: Executor | None = None,
    **extra: Any,
) -> RunResult:
    ex = executor or Executor(testnodes.registry())
    return await ex.run(bundle(nodes, edge_specs, **extra), payload)


def statuses(result: RunResult) -> dict[str, str]:
    return {n: str(rec.status) for n, rec in result.state.nodes.items()}


def step_result(step: Callable[[Any], Coroutine[Any, Any, Any]], runtime: Any) -> Any:
    """Drive a step function of ``flow.py`` that never suspends; return its result."""
    coroutine = step(runtime)
    try:
        coroutine.send(None)
    except StopIteration as stop:
        return stop.value
    coroutine.close()
    raise AssertionError("a step function suspended")


class RecordingRuntime:
    """A ``StepRuntime`` that shows what a step binds instead of running anything."""

    def one(self, edge_id: str) -> Any:
        return ("one", edge_id)

    def many(self, edge_ids: tuple[str, ...]) -> Any:
        return ("many", edge_ids)

    async def call(self, node_id: str, inputs: dict[str, Any]) -> Any:
        return node_id, inputs
