"""Webhook benchmark: Plait's router against Node-RED and a bare ASGI floor, same run.

Run with ``make bench`` (or ``uv run python bench/webhook/run.py``). The two endpoints of
the peer kit (``../shared/bench/README.md``), each through the system's workflow
machinery:

* ``GET /hook?n=1`` → ``{"ok":true,"n":"1"}`` — Plait: ``trigger.webhook`` → ``data.set``
  → ``http.respond``;
* ``GET /chain`` → ``{"count":20}`` — Plait: ``trigger.webhook`` → 20 sequential
  ``data.set`` steps, each adding 1 → ``http.respond``.

The flows are published on the stage ``prod`` of the project ``bench`` through the API of
a short-lived ``plait serve``, then ``plait router`` serves them alone (its own
dispatcher, every request a recorded run with its events: run history on) through the
path form ``/p/bench/prod/…``. Node-RED ``node-red@4.1.15`` is installed with npm into a
temporary folder (or ``--nodered-dir``) and started with the kit's generated settings and
flows. The floor is ``floor.py``: a bare ASGI app on the same server stack, no engine.

Each system in turn is pinned to CPU 0 and loaded from CPU 1, with the kit's ``load.py``
and with ``wrk`` (``apt-get install -y wrk``; skipped with a note when absent), at each
concurrency; one system runs at a time. Printed: startup to the first correct answer,
RSS idle and after load (the kit's ``rss.py``, summed over the process tree), req/s,
p50 and p99 per endpoint, tool and concurrency, and the ratios Plait/Node-RED and
Plait/floor. The whole run is bounded (about 3 minutes by default); loopback only.

Tests never assert on time; this script reports.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
PLAIT = [sys.executable, "-m", "plait.api.cli"]
# The shared peer kit sits beside the checkout (../shared/bench); PLAIT_BENCH_KIT moves it.
KIT = Path(os.environ.get("PLAIT_BENCH_KIT") or ROOT.parent / "shared" / "bench")
NODE_RED_VERSION = "4.1.15"

READY_TIMEOUT_S = 60.0
CHAIN_LENGTH = 20
PROJECT = "bench"
STAGE = "prod"

# (name, path with query, a substring of the compact JSON every answer must hold)
ENDPOINTS = (("hook", "/hook?n=1", '"n":"1"'), ("chain", "/chain", '"count":20'))


# -- the flows ---------------------------------------------------------------------------


def _node(node_id: str, type_: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"id": node_id, "type": type_, "version": 1, "params": params}


def _edge(source: str, port: str, target: str) -> dict[str, Any]:
    return {
        "id": f"{source}-{target}",
        "source": source,
        "source_port": port,
        "target": target,
        "target_port": "input",
    }


def hook_flow() -> dict[str, Any]:
    """``GET /hook?n=1`` → ``{"ok": true, "n": "1"}``: one step builds it, one answers."""
    return {
        "schema_version": 1,
        "name": "bench hook",
        "nodes": [
            _node("hook", "trigger.webhook", {"method": "GET", "path": "/hook"}),
            _node("build", "data.set", {"values": {"ok": True, "n": "{{ inputs.input.n }}"}}),
            _node("reply", "http.respond", {"body": "{{ inputs.input }}"}),
        ],
        "edges": [_edge("hook", "query", "build"), _edge("build", "output", "reply")],
    }


def chain_flow(length: int = CHAIN_LENGTH) -> dict[str, Any]:
    """``GET /chain`` → ``{"count": 20}``: 20 ``data.set`` nodes in a row, each adding 1
    (the first starts from the empty query, as Node-RED's first function starts from an
    empty payload)."""
    steps = [f"step{i}" for i in range(1, length + 1)]
    nodes = [_node("hook", "trigger.webhook", {"method": "GET", "path": "/chain"})]
    nodes += [
        _node(step, "data.set", {"values": {"count": "{{ inputs.input.get('count', 0) + 1 }}"}})
        for step in steps
    ]
    nodes.append(_node("reply", "http.respond", {"body": "{{ inputs.input }}"}))
    edges = [_edge("hook", "query", steps[0])]
    edges += [_edge(a, "output", b) for a, b in itertools.pairwise(steps)]
    edges.append(_edge(steps[-1], "output", "reply"))
    return {"schema_version": 1, "name": "bench chain", "nodes": nodes, "edges": edges}


# -- processes ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(cmd: list[str], cpu: int, pin: bool) -> list[str]:
    return ["taskset", "-c", str(cpu), *cmd] if pin else cmd


def get(port: int, path: str, timeout: float = 2.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@dataclass
class System:
    """One server under test: how to reach its endpoints, and its process."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    prefix: str  # put before each endpoint's path
    startup_s: float = float("nan")
    rss_idle_mb: float = float("nan")
    rss_after_mb: float = float("nan")
    results: list[dict[str, Any]] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{self.prefix}{path}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def spawn(
    name: str, cmd: list[str], port: int, prefix: str, *, env: dict[str, str], log: Path
) -> System:
    """Start a server and time it from spawn to its first correct ``GET /hook?n=1``."""
    with open(log, "ab") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=out)
    system = System(name, proc, port, prefix)
    _, path, expect = ENDPOINTS[0]
    deadline = started + READY_TIMEOUT_S
    while True:
        try:
            status, body = get(port, prefix + path)
            if status == 200 and expect in body.decode(errors="replace"):
                system.startup_s = time.perf_counter() - started
                return system
        except OSError:
            pass
        if proc.poll() is not None or time.perf_counter() > deadline:
            system.stop()
            tail = log.read_text(errors="replace")[-2000:]
            raise SystemExit(f"{name} did not answer GET {path} correctly; {log}:\n{tail}")
        time.sleep(0.005)


def tree_rss_mb(pid: int) -> float:
    """RSS of a process and its descendants, from the kit's ``rss.py``, in MB."""
    out = subprocess.run(
        [sys.executable, str(KIT / "rss.py"), str(pid)], capture_output=True, text=True
    )
    try:
        return float(json.loads(out.stdout)["tree_rss_kb"]) / 1024
    except (ValueError, KeyError):
        return float("nan")


# -- Plait -------------------------------------------------------------------------------


class Api:
    """A small JSON client for the API of the short-lived ``plait serve``."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str, body: Any = None) -> Any:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            data = None if body is None else json.dumps(body).encode()
            conn.request(method, path, body=data, headers=self.headers)
            response = conn.getresponse()
            payload = response.read()
        finally:
            conn.close()
        if response.status >= 300:
            raise SystemExit(f"{method} {path} answered {response.status}: {payload[:500]!r}")
        return json.loads(payload) if payload else None


def publish_plait_flows(env: dict[str, str], tmp: Path) -> None:
    """Publish the two flows on ``bench``/``prod`` through the API of a ``plait serve``
    that runs only for that (no router port), then stop it."""
    port = free_port()
    log = tmp / "plait-serve.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [*PLAIT, "serve", "--port", str(port), "--router-port", "0", "--no-sample"],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=out,
        )
    try:
        deadline = time.perf_counter() + READY_TIMEOUT_S
        while True:
            try:
                if get(port, "/api/health")[0] == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.perf_counter() > deadline:
                raise SystemExit(f"plait serve did not start; see {log}")
            time.sleep(0.02)
        token = subprocess.run(
            [*PLAIT, "admin", "create-token", "--workspace", "bench", "--name", "bench"],
            env=env,
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        api = Api(port, token)
        project = api.call("POST", "/api/projects", {"name": "Bench", "slug": PROJECT})
        for document in (hook_flow(), chain_flow()):
            flow = api.call(
                "POST",
                f"/api/projects/{project['id']}/flows",
                {"name": document["name"], "document": document},
            )
            api.call("POST", f"/api/flows/{flow['id']}/publish", {"stage": STAGE})
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def recorded_runs(data_dir: Path) -> tuple[int, int]:
    """(webhook runs, their events) in Plait's database: the run history the load left."""
    with sqlite3.connect(f"file:{data_dir / 'plait.db'}?mode=ro", uri=True) as conn:
        runs = conn.execute("SELECT count(*) FROM runs WHERE \"trigger\" = 'webhook'").fetchone()
        events = conn.execute(
            "SELECT count(*) FROM run_events e JOIN runs r ON r.id = e.run_id"
            " WHERE r.\"trigger\" = 'webhook'"
        ).fetchone()
    return int(runs[0]), int(events[0])


# -- Node-RED ----------------------------------------------------------------------------


def install_node_red(folder: Path) -> Path:
    """``node-red`` installed with npm into ``folder`` (kept when already there)."""
    red = folder / "node_modules" / "node-red" / "red.js"
    if red.is_file():
        return red
    if shutil.which("npm") is None:
        raise SystemExit("npm is not installed; Node-RED cannot be measured (use --systems)")
    print(f"installing node-red@{NODE_RED_VERSION} into {folder} …", file=sys.stderr)
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            *("npm", "install", "--prefix", str(folder)),
            *("--no-audit", "--no-fund", "--silent", f"node-red@{NODE_RED_VERSION}"),
        ],
        check=True,
        timeout=600,
    )
    return red


# -- load --------------------------------------------------------------------------------


def run_load_py(url: str, c: int, expect: str, args: argparse.Namespace, out: Path) -> dict:
    """One measurement with the kit's ``load.py``, pinned to CPU 1."""
    cmd = [
        sys.executable,
        str(KIT / "load.py"),
        url,
        "-n",
        str(args.requests),
        "-c",
        str(c),
        "--warmup",
        "5000",
        "--warmup-seconds",
        str(args.warmup_seconds),
        "--max-seconds",
        str(args.seconds),
        "--expect",
        expect,
        "--json",
        str(out),
    ]
    subprocess.run(pinned(cmd, 1, args.pin), capture_output=True, text=True, timeout=120)
    record = json.loads(out.read_text().splitlines()[-1])
    return {
        "rps": record["rps"],
        "p50_ms": record["p50_ms"],
        "p99_ms": record["p99_ms"],
        "errors": record["errors"],
    }


def run_wrk(url: str, c: int, args: argparse.Namespace) -> dict:
    """One measurement with ``wrk`` (one thread, ``c`` connections), pinned to CPU 1.

    wrk does not read bodies, so the body was checked by ``load.py`` and at start-up;
    non-2xx answers count as errors here.
    """
    warm = ["wrk", "-t1", f"-c{c}", f"-d{max(1, round(args.warmup_seconds))}s", url]
    subprocess.run(pinned(warm, 1, args.pin), capture_output=True, timeout=120)
    cmd = [
        "wrk",
        "-t1",
        f"-c{c}",
        f"-d{max(1, round(args.seconds))}s",
        "-s",
        str(KIT / "wrk_report.lua"),
        url,
    ]
    done = subprocess.run(pinned(cmd, 1, args.pin), capture_output=True, text=True, timeout=120)
    line = [x for x in done.stdout.splitlines() if x.startswith("{")][-1]
    record = json.loads(line)
    return {
        "rps": record["rps"],
        "p50_ms": record["p50_ms"],
        "p99_ms": record["p99_ms"],
        "errors": record["errors"] + record["non2xx"],
    }


def measure(system: System, args: argparse.Namespace, tmp: Path, tools: list[str]) -> None:
    """Every endpoint, concurrency and tool; the run with the median req/s of ``--runs``."""
    for endpoint, path, expect in ENDPOINTS:
        for c in args.concurrency:
            for tool in tools:
                runs = []
                for index in range(args.runs):
                    if tool == "load.py":
                        out = tmp / f"load-{system.name}-{endpoint}-{c}-{index}.json"
                        runs.append(run_load_py(system.url(path), c, expect, args, out))
                    else:
                        runs.append(run_wrk(system.url(path), c, args))
                runs.sort(key=lambda r: r["rps"])
                best = runs[len(runs) // 2]
                row = {"system": system.name, "endpoint": endpoint, "c": c, "tool": tool, **best}
                system.results.append(row)
                print(
                    f"  {system.name:<9} {endpoint:<6} C={c:<3} {tool:<8}"
                    f" {best['rps']:>9.0f} req/s  p50 {best['p50_ms']:.2f} ms"
                    f"  p99 {best['p99_ms']:.2f} ms  errors {best['errors']}",
                    file=sys.stderr,
                )


def settle_and_measure(
    system: System, args: argparse.Namespace, tmp: Path, tools: list[str]
) -> None:
    time.sleep(args.settle)
    system.rss_idle_mb = tree_rss_mb(system.proc.pid)
    measure(system, args, tmp, tools)
    system.rss_after_mb = tree_rss_mb(system.proc.pid)


# -- the report --------------------------------------------------------------------------


def report(systems: list[System], args: argparse.Namespace, history: tuple[int, int] | None) -> str:
    lines = ["", "## Webhook benchmark", ""]
    lines.append(f"command: {' '.join([Path(sys.argv[0]).name, *sys.argv[1:]]) or 'run.py'}")
    lines.append(
        f"{args.runs} run(s) per cell (median req/s), {args.warmup_seconds:g} s warm-up,"
        f" up to {args.seconds:g} s / {args.requests} requests measured; server on CPU 0,"
        f" load on CPU 1{'' if args.pin else ' (not pinned)'}"
    )
    lines += ["", "| system | startup s | RSS idle / after MB |", "|---|---|---|"]
    for s in systems:
        lines.append(
            f"| {s.name} | {s.startup_s:.2f} | {s.rss_idle_mb:.0f} / {s.rss_after_mb:.0f} |"
        )
    if history is not None:
        runs, events = history
        per = events / runs if runs else float("nan")
        lines.append(f"\nPlait recorded {runs} webhook runs with {events} events ({per:.1f}/run).")
    lines += [
        "",
        "| endpoint | C | tool | system | req/s | p50 ms | p99 ms | errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    rows = [row for s in systems for row in s.results]
    rows.sort(key=lambda r: (r["endpoint"] != "hook", r["c"], r["tool"]))
    for r in rows:
        lines.append(
            f"| {r['endpoint']} | {r['c']} | {r['tool']} | {r['system']} | {r['rps']:,.0f}"
            f" | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['errors']} |"
        )
    by_key = {(r["system"], r["endpoint"], r["c"], r["tool"]): r for r in rows}
    lines += [
        "",
        "| endpoint | C | tool | Plait / Node-RED req/s | Plait / floor req/s"
        " | p99 Plait vs Node-RED ms |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r["system"] != "plait":
            continue
        key = (r["endpoint"], r["c"], r["tool"])
        red = by_key.get(("node-red", *key))
        floor = by_key.get(("floor", *key))
        red_ratio = f"{r['rps'] / red['rps']:.2f}x" if red and red["rps"] else "-"
        floor_ratio = f"{100 * r['rps'] / floor['rps']:.0f} %" if floor and floor["rps"] else "-"
        p99 = f"{r['p99_ms']:.2f} vs {red['p99_ms']:.2f}" if red else "-"
        lines.append(f"| {key[0]} | {key[1]} | {key[2]} | {red_ratio} | {floor_ratio} | {p99} |")
    return "\n".join(lines) + "\n"


# -- main --------------------------------------------------------------------------------


@contextmanager
def workdir(keep: bool) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="plait-webhook-bench-"))
    try:
        yield path
    finally:
        if keep:
            print(f"kept {path}", file=sys.stderr)
        else:
            shutil.rmtree(path, ignore_errors=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", default="plait,node-red,floor")
    parser.add_argument("--concurrency", default="1,16")
    parser.add_argument("--tools", default="load.py,wrk")
    parser.add_argument("--runs", type=int, default=1, help="runs per cell (the kit says 3)")
    parser.add_argument("--seconds", type=float, default=4.0, help="measured time per run")
    parser.add_argument("--warmup-seconds", type=float, default=1.5)
    parser.add_argument("--requests", type=int, default=20_000, help="cap per measured run")
    parser.add_argument("--settle", type=float, default=5.0, help="idle seconds before RSS")
    parser.add_argument("--nodered-dir", type=Path, help="reuse a Node-RED install here")
    parser.add_argument("--no-pin", dest="pin", action="store_false")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--json", type=Path, help="append every result row here")
    args = parser.parse_args(argv)
    args.systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    args.tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    if args.pin and (os.cpu_count() or 1) < 2:
        print("one CPU only: not pinning", file=sys.stderr)
        args.pin = False
    if args.pin and shutil.which("taskset") is None:
        print("taskset is missing (util-linux): not pinning", file=sys.stderr)
        args.pin = False
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not (KIT / "load.py").is_file():
        raise SystemExit(f"the peer kit is not at {KIT}; set PLAIT_BENCH_KIT")
    tools = list(args.tools)
    if "wrk" in tools and shutil.which("wrk") is None:
        print(
            "NOTE: wrk is not installed, so only load.py measures (it saturates near"
            " 4,000 req/s). Install it with: apt-get install -y wrk",
            file=sys.stderr,
        )
        tools.remove("wrk")
    systems: list[System] = []
    history = None
    with workdir(args.keep) as tmp:
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("PLAIT_")}
        base_env.update(NO_COLOR="1", PLAIT_EDITOR_DIST=str(tmp / "no-editor"))

        if "plait" in args.systems:
            data_dir = tmp / "plait-data"
            env = {**base_env, "PLAIT_DATA_DIR": str(data_dir)}
            print("plait: publishing the flows …", file=sys.stderr)
            publish_plait_flows(env, tmp)
            port = free_port()
            cmd = [*PLAIT, "router", "--port", str(port), "--log-level", "warning"]
            system = spawn(
                "plait",
                pinned(cmd, 0, args.pin),
                port,
                f"/p/{PROJECT}/{STAGE}",
                env=env,
                log=tmp / "plait-router.log",
            )
            try:
                settle_and_measure(system, args, tmp, tools)
            finally:
                system.stop()
            history = recorded_runs(data_dir)
            systems.append(system)

        if "node-red" in args.systems:
            red = install_node_red(args.nodered_dir or tmp / "node-red")
            port = free_port()
            config = tmp / "node-red-config"
            subprocess.run(
                [
                    *(sys.executable, str(KIT / "gen_configs.py"), "--out", str(config)),
                    *("--nodered-user-dir", str(tmp / "node-red-data")),
                    *("--nodered-port", str(port)),
                ],
                check=True,
                capture_output=True,
            )
            cmd = ["node", str(red), "-s", str(config / "nodered-settings.js")]
            system = spawn(
                "node-red", pinned(cmd, 0, args.pin), port, "", env=base_env, log=tmp / "red.log"
            )
            try:
                settle_and_measure(system, args, tmp, tools)
            finally:
                system.stop()
            systems.append(system)

        if "floor" in args.systems:
            port = free_port()
            cmd = [sys.executable, str(HERE / "floor.py"), "--port", str(port)]
            system = spawn(
                "floor", pinned(cmd, 0, args.pin), port, "", env=base_env, log=tmp / "floor.log"
            )
            try:
                settle_and_measure(system, args, tmp, tools)
            finally:
                system.stop()
            systems.append(system)

    text = report(systems, args, history)
    sys.stdout.write(text)
    if args.json:
        with open(args.json, "a") as out:
            for system in systems:
                for row in system.results:
                    out.write(json.dumps({**row, "startup_s": system.startup_s}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
