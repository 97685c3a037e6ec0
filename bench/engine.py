"""Engine benchmark: per-node overhead against a plain loop, and validate+compile speed.

Run with ``make bench`` (or ``uv run python bench/engine.py``). Everything is measured in
this one run and printed as figures and ratios:

* a 1,000-node chain and a 1,000-wide fan-out into one merge, executed by the engine with
  the in-memory and the file (JSONL) event store, against a plain Python loop that calls
  the same nodes' ``run`` methods directly (building the same Inputs models);
* validate + compile of a 5,000-node flow;
* the CLI's cold start (``plait --help``, ``plait run`` of a one-node flow).

Goals (ARCHITECTURE issue #2): <= 15 us engine overhead per node in memory; 5,000-node
validate+compile <= 1 s. Tests never assert on these; this script reports them.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, JsonValue

from plait.node_runner.compiler import build_bundle
from plait.node_runner.engine import Executor
from plait.node_runner.events import InMemoryEventStore, JsonlEventStore
from plait.node_runner.flow import Flow, load_flow
from plait.node_runner.registry import NodeRegistry
from plait.node_runner.sdk import MultiEdge, Node, NodeSpec, RunContext
from plait.node_runner.validation import validate

ROOT = Path(__file__).resolve().parent.parent


class Start(Node):
    """Trigger: emits the payload."""

    spec = NodeSpec(
        type="bench.start",
        version=1,
        title="Start",
        category="bench",
        trigger=True,
        idempotent=True,
    )

    class Outputs(BaseModel):
        payload: JsonValue = None

    async def run(self, inputs: Any, ctx: RunContext) -> Any:
        return self.Outputs(payload=ctx.trigger_payload)


class Step(Node):
    """Adds one to a number: the work is tiny so the engine's overhead shows."""

    spec = NodeSpec(type="bench.step", version=1, title="Step", category="bench", idempotent=True)

    class Inputs(BaseModel):
        input: JsonValue = None

    class Outputs(BaseModel):
        output: JsonValue = None

    async def run(self, inputs: Any, ctx: RunContext) -> Any:
        return self.Outputs(output=(inputs.input or 0) + 1)


class Merge(Node):
    """Sums a multi-edge input."""

    spec = NodeSpec(type="bench.merge", version=1, title="Merge", category="bench", idempotent=True)

    class Inputs(BaseModel):
        inputs: list[JsonValue] = MultiEdge()

    class Outputs(BaseModel):
        output: JsonValue = None

    async def run(self, inputs: Any, ctx: RunContext) -> Any:
        return self.Outputs(output=sum(inputs.inputs))


REGISTRY = NodeRegistry([Start, Step, Merge])


def edge(i: int, source: str, sport: str, target: str, tport: str) -> dict[str, Any]:
    return {
        "id": f"e{i}",
        "source": source,
        "source_port": sport,
        "target": target,
        "target_port": tport,
    }


def chain_flow(n: int) -> Flow:
    nodes = [{"id": "start", "type": "bench.start"}]
    edges = [edge(0, "start", "payload", "n1", "input")]
    for i in range(1, n + 1):
        nodes.append({"id": f"n{i}", "type": "bench.step"})
        if i > 1:
            edges.append(edge(i, f"n{i - 1}", "output", f"n{i}", "input"))
    return load_flow({"name": "chain", "nodes": nodes, "edges": edges})


def fanout_flow(n: int) -> Flow:
    nodes = [{"id": "start", "type": "bench.start"}, {"id": "merge", "type": "bench.merge"}]
    edges = []
    for i in range(1, n + 1):
        nodes.append({"id": f"n{i}", "type": "bench.step"})
        edges.append(edge(2 * i, "start", "payload", f"n{i}", "input"))
        edges.append(edge(2 * i + 1, f"n{i}", "output", "merge", "inputs"))
    return load_flow({"name": "fanout", "nodes": nodes, "edges": edges, "max_concurrency": 16})


def big_flow(n: int) -> dict[str, Any]:
    """A 5,000-node document: a chain with a branch every 10 nodes and expressions."""
    nodes: list[dict[str, Any]] = [{"id": "start", "type": "bench.start"}]
    edges = [edge(0, "start", "payload", "n1", "input")]
    for i in range(1, n):
        node: dict[str, Any] = {
            "id": f"n{i}",
            "type": "bench.step",
            "position": {"x": i * 10, "y": 0},
        }
        nodes.append(node)
        if i > 1:
            edges.append(edge(i, f"n{i - 1}", "output", f"n{i}", "input"))
    nodes.append({"id": "merge", "type": "bench.merge"})
    for i in range(10, n, 10):
        edges.append(edge(n + i, f"n{i}", "output", "merge", "inputs"))
    return {"name": "big", "nodes": nodes, "edges": edges}


async def baseline_chain(n: int) -> float:
    nodes = [Step(Step.Params()) for _ in range(n)]
    ctx = RunContext(run_id="baseline", node_id="n")
    t0 = time.perf_counter()
    value: Any = 0
    for node in nodes:
        out = await node.run(Step.Inputs.model_validate({"input": value}), ctx)
        value = out.output
    return time.perf_counter() - t0


async def baseline_fanout(n: int) -> float:
    nodes = [Step(Step.Params()) for _ in range(n)]
    merge = Merge(Merge.Params())
    ctx = RunContext(run_id="baseline", node_id="n")
    t0 = time.perf_counter()
    values = []
    for node in nodes:
        out = await node.run(Step.Inputs.model_validate({"input": 0}), ctx)
        values.append(out.output)
    await merge.run(Merge.Inputs.model_validate({"inputs": values}), ctx)
    return time.perf_counter() - t0


async def engine_time(flow: Flow, store_kind: str, tmp: Path, repeat: int) -> list[float]:
    bundle = build_bundle(flow, REGISTRY)
    times = []
    for i in range(repeat + 1):
        store: Any = (
            InMemoryEventStore()
            if store_kind == "memory"
            else JsonlEventStore(tmp / f"ev{i}.jsonl")
        )
        ex = Executor(REGISTRY, store=store)
        plan = ex.plan(bundle)
        gc.collect()
        t0 = time.perf_counter()
        result = await ex.run(plan, 0)
        elapsed = time.perf_counter() - t0
        if not result.succeeded:
            raise SystemExit(f"benchmark run failed: {result.error}")
        if i:  # the first run warms caches
            times.append(elapsed)
    return times


def med(xs: list[float]) -> float:
    return statistics.median(xs)


async def bench_engine(n: int, repeat: int) -> list[dict[str, Any]]:
    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="plait-bench-"))
    try:
        for shape, flow, baseline in (
            ("chain", chain_flow(n), baseline_chain),
            ("fan-out", fanout_flow(n), baseline_fanout),
        ):
            base = med([await baseline(n) for _ in range(repeat)])
            for store in ("memory", "file"):
                t = med(await engine_time(flow, store, tmp, repeat))
                nodes = n + 1 if shape == "chain" else n + 2
                rows.append(
                    {
                        "shape": f"{n}-node {shape}",
                        "store": store,
                        "engine_ms": t * 1e3,
                        "baseline_ms": base * 1e3,
                        "overhead_us_per_node": (t - base) / nodes * 1e6,
                        "ratio": t / base,
                    }
                )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


def bench_compile(n: int, repeat: int) -> dict[str, float]:
    doc = big_flow(n)
    text = json.dumps(doc)
    load_t, val_t, comp_t = [], [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        flow = load_flow(text)
        t1 = time.perf_counter()
        problems = validate(flow, REGISTRY)
        t2 = time.perf_counter()
        build_bundle(flow, REGISTRY)
        t3 = time.perf_counter()
        assert not [p for p in problems if p.severity == "error"], problems[:3]
        load_t.append(t1 - t0)
        val_t.append(t2 - t1)
        comp_t.append(t3 - t2)
    return {
        "nodes": n,
        "parse_s": med(load_t),
        "validate_s": med(val_t),
        "compile_s": med(comp_t),
        "validate_compile_s": med(val_t) + med(comp_t),
    }


def bench_cli(repeat: int) -> dict[str, float] | None:
    plait = Path(sys.executable).with_name("plait")
    if not plait.exists():
        return None
    tmp = Path(tempfile.mkdtemp(prefix="plait-cli-"))
    flow = tmp / "one.json"
    flow.write_text(json.dumps({"name": "one", "nodes": [{"id": "t", "type": "trigger.manual"}]}))
    env = {**os.environ, "PLAIT_DATA_DIR": str(tmp / "data")}
    # An installed CLI runs from compiled bytecode; a machine with PYTHONDONTWRITEBYTECODE
    # set recompiles every module at each start. Measure both, the cache warmed first.
    cached = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cached["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    out = {}
    for variant, variant_env in (("", env), ("cached_", cached)):
        for label, args in (("help", ["--help"]), ("run_one_node", ["run", str(flow), "--json"])):
            cmd = [str(plait), *args]
            subprocess.run(cmd, check=True, capture_output=True, env=variant_env)  # warm
            times = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                subprocess.run(cmd, check=True, capture_output=True, env=variant_env)
                times.append(time.perf_counter() - t0)
            out[f"{variant}{label}_s"] = med(times)
    shutil.rmtree(tmp, ignore_errors=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000, help="chain length / fan-out width")
    parser.add_argument("--big", type=int, default=5000, help="nodes in the compile benchmark")
    parser.add_argument("--repeat", type=int, default=7, help="runs per figure (median)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    print(
        f"engine benchmark — python {sys.version.split()[0]}, {os.cpu_count()} cpus",
        file=sys.stderr,
    )
    rows = asyncio.run(bench_engine(args.nodes, args.repeat))
    comp = bench_compile(args.big, max(3, args.repeat // 2))
    cli = bench_cli(max(3, args.repeat))
    if args.json:
        print(json.dumps({"engine": rows, "compile": comp, "cli": cli}, indent=2))
        return
    header = f"{'shape':<22}{'store':<8}{'engine ms':>11}{'loop ms':>10}{'ratio':>8}"
    print(f"\n{header}{'overhead µs/node':>19}")
    for r in rows:
        print(
            f"{r['shape']:<22}{r['store']:<8}{r['engine_ms']:>11.2f}{r['baseline_ms']:>10.2f}"
            f"{r['ratio']:>7.1f}x{r['overhead_us_per_node']:>19.1f}"
        )
    goal = (
        "met"
        if all(r["overhead_us_per_node"] <= 15 for r in rows if r["store"] == "memory")
        else "MISSED"
    )
    print(f"goal <= 15 µs/node overhead in memory: {goal}")
    print(
        f"\n{comp['nodes']}-node flow: parse {comp['parse_s'] * 1e3:.0f} ms, validate "
        f"{comp['validate_s'] * 1e3:.0f} ms, compile {comp['compile_s'] * 1e3:.0f} ms; "
        f"validate+compile {comp['validate_compile_s']:.3f} s "
        f"(goal <= 1 s: {'met' if comp['validate_compile_s'] <= 1 else 'MISSED'})"
    )
    if cli:
        print(
            f"\nCLI cold start: plait --help {cli['help_s'] * 1e3:.0f} ms, plait run (one node) "
            f"{cli['run_one_node_s'] * 1e3:.0f} ms; with a bytecode cache "
            f"{cli['cached_help_s'] * 1e3:.0f} ms and {cli['cached_run_one_node_s'] * 1e3:.0f} ms"
        )
    else:
        print("\nCLI cold start: plait is not installed in this environment (run `make setup`)")


if __name__ == "__main__":
    main()
