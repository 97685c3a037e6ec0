"""API benchmark: ``plait serve``'s start-up and idle memory, and start-a-run-and-wait over HTTP.

Run with ``make bench`` (or ``uv run python bench/api.py``). For each database (SQLite in
a temporary data dir; PostgreSQL in a temporary database on 127.0.0.1:5432) it:

1. starts ``plait serve`` a few times and measures the time from spawn to the first
   ``200`` of ``GET /api/health`` — as this machine runs Python, and with a warm bytecode
   cache (as an installed ``plait`` runs: a machine with ``PYTHONDONTWRITEBYTECODE=1``
   compiles every module at every start) — then the server's idle RSS a few seconds
   after it is ready;
2. makes an API token (``plait admin create-token``), a project and a trivial draft flow
   (``trigger.manual`` → ``data.set``) through the API;
3. starts runs and waits for each over HTTP (``POST /api/flows/{id}/runs`` with
   ``wait_s``), at concurrency 1 and 8, for a bounded count and time; prints req/s,
   p50/p99, the events written per run (counted in the database) and the RSS after.

The server is pinned to CPU 0 and this load generator to CPU 1 when the machine has two
or more (``--no-pin`` to leave them be). Goals (issue 3): ready in ≤ 2 s, idle RSS ≤
150 MB. Tests never assert on time; this script reports.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PLAIT = [sys.executable, "-m", "plait.api.cli"]
PG_ADMIN_URL = os.environ.get("PLAIT_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

READY_GOAL_S = 2.0
IDLE_RSS_GOAL_MB = 150.0
READY_TIMEOUT_S = 60.0
REQUEST_TIMEOUT_S = 30.0

# The trivial flow: its manual trigger hands the input to one data.set node.
TRIVIAL_FLOW = {
    "schema_version": 1,
    "name": "Trivial",
    "nodes": [
        {"id": "start", "type": "trigger.manual", "version": 1},
        {
            "id": "set",
            "type": "data.set",
            "version": 1,
            "params": {"values": {"ok": True, "n": "{{ inputs.input.n }}"}},
        },
    ],
    "edges": [
        {
            "id": "e1",
            "source": "start",
            "source_port": "payload",
            "target": "set",
            "target_port": "input",
        }
    ],
}


# -- the server ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mb(pid: int) -> float:
    """Resident memory of one process (VmRSS), in MB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    ready_s: float

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> tuple[int, float]:
        """SIGTERM, then wait: (exit code, seconds to exit)."""
        started = time.perf_counter()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        return code, time.perf_counter() - started


def start_server(env: dict[str, str], *, pin: bool, log: Path) -> Server:
    """Spawn ``plait serve`` and wait for the first healthy answer."""
    port = free_port()
    cmd = [*PLAIT, "serve", "--port", str(port), "--router-port", "0", "--no-sample"]
    if pin:
        cmd = ["taskset", "-c", "0", *cmd]
    with open(log, "ab") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=out)
    deadline = started + READY_TIMEOUT_S
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/api/health")
            if conn.getresponse().status == 200:
                ready = time.perf_counter() - started
                conn.close()
                return Server(proc, port, ready)
            conn.close()
        except OSError:
            pass
        if proc.poll() is not None or time.perf_counter() > deadline:
            proc.kill()
            raise SystemExit(f"plait serve did not become healthy; see {log}")
        time.sleep(0.005)


# -- HTTP -----------------------------------------------------------------------------------------


class Api:
    """A keep-alive JSON client on one connection (one per load thread)."""

    def __init__(self, port: int, token: str | None = None) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
        self.headers = {"Content-Type": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        self.conn.request(method, path, body=data, headers=self.headers)
        response = self.conn.getresponse()
        payload = response.read()
        return response.status, json.loads(payload) if payload else None

    def close(self) -> None:
        self.conn.close()


def setup_flow(server: Server, env: dict[str, str]) -> tuple[str, str]:
    """An API token, a project and the trivial draft flow; (token, flow id)."""
    token = subprocess.run(
        [*PLAIT, "admin", "create-token", "--workspace", "bench", "--name", "bench"],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    api = Api(server.port, token)
    slug = f"bench-{uuid.uuid4().hex[:8]}"
    status, project = api.call("POST", "/api/projects", {"name": "Bench", "slug": slug})
    if status != 201:
        raise SystemExit(f"POST /api/projects answered {status}: {project}")
    status, flow = api.call(
        "POST",
        f"/api/projects/{project['id']}/flows",
        {"name": "Trivial", "document": TRIVIAL_FLOW},
    )
    if status != 201:
        raise SystemExit(f"POST /api/projects/…/flows answered {status}: {flow}")
    api.close()
    return token, str(flow["id"])


@dataclass
class LoadResult:
    concurrency: int
    ok: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    first_error: str | None = None

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        """Nearest-rank percentile, in ms."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
        return ordered[rank] * 1e3


def run_load(
    server: Server, token: str, flow_id: str, *, concurrency: int, count: int, seconds: float
) -> LoadResult:
    """``count`` run-and-wait requests over ``concurrency`` connections, stopped after
    ``seconds`` at the latest; each must answer with a succeeded run."""
    result = LoadResult(concurrency)
    lock = threading.Lock()
    issued = 0
    deadline = time.perf_counter() + seconds
    path = f"/api/flows/{flow_id}/runs"

    def worker() -> None:
        nonlocal issued
        api = Api(server.port, token)
        try:
            while True:
                with lock:
                    if issued >= count or time.perf_counter() > deadline:
                        return
                    issued += 1
                    n = issued
                started = time.perf_counter()
                try:
                    status, body = api.call("POST", path, {"input": {"n": n}, "wait_s": 10})
                    failure = None
                    if status not in (200, 201) or body.get("status") != "succeeded":
                        failure = f"{status}: {json.dumps(body)[:300]}"
                except (OSError, http.client.HTTPException, ValueError) as exc:
                    failure = repr(exc)
                    api.close()
                    api = Api(server.port, token)
                took = time.perf_counter() - started
                with lock:
                    if failure is None:
                        result.ok += 1
                        result.latencies.append(took)
                    else:
                        result.errors += 1
                        result.first_error = result.first_error or failure
        finally:
            api.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.perf_counter() - started
    return result


# -- the databases ----------------------------------------------------------------------


@contextmanager
def database(kind: str, data_dir: Path) -> Iterator[dict[str, str]]:
    """Settings for ``kind``: SQLite under ``data_dir``, or a new PostgreSQL database."""
    if kind == "sqlite":
        yield {"PLAIT_DATA_DIR": str(data_dir)}
        return
    import psycopg

    name = f"plait_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    try:
        yield {"PLAIT_DATA_DIR": str(data_dir), "PLAIT_DATABASE_URL": url}
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def events_per_run(settings: dict[str, str], flow_id: str) -> tuple[int, float]:
    """(runs of the flow, run events per run), counted in the database."""
    runs_sql = "SELECT count(*) FROM runs WHERE flow_id = %s"
    events_sql = (
        "SELECT count(*) FROM run_events e JOIN runs r ON r.id = e.run_id WHERE r.flow_id = %s"
    )
    if "PLAIT_DATABASE_URL" in settings:
        import psycopg

        with psycopg.connect(settings["PLAIT_DATABASE_URL"]) as conn:
            runs = conn.execute(runs_sql, (flow_id,)).fetchone()[0]  # type: ignore[index]
            events = conn.execute(events_sql, (flow_id,)).fetchone()[0]  # type: ignore[index]
    else:
        path = Path(settings["PLAIT_DATA_DIR"]) / "plait.db"
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            runs = conn.execute(runs_sql.replace("%s", "?"), (flow_id,)).fetchone()[0]
            events = conn.execute(events_sql.replace("%s", "?"), (flow_id,)).fetchone()[0]
    return runs, events / runs if runs else float("nan")


# -- one database, end to end -----------------------------------------------------------


def bench_database(kind: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    print(f"\n== {kind} ==", file=sys.stderr)
    base_env = {k: v for k, v in os.environ.items() if k not in ("PLAIT_DATABASE_URL",)}
    base_env.update(NO_COLOR="1", PLAIT_EDITOR_DIST=str(tmp / "no-editor"))
    # The same interpreter, with and without a bytecode cache (see the module docstring).
    as_configured = dict(base_env)
    cached = {k: v for k, v in base_env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cached["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    log = tmp / f"serve-{kind}.log"
    out: dict[str, Any] = {"database": kind}
    with database(kind, tmp / f"data-{kind}") as settings:
        variants = [("ready_s", as_configured), ("cached_ready_s", cached)]
        for key, env in variants:
            env = {**env, **settings}
            times = []
            # The first start migrates a fresh database (and fills the cache): not counted.
            for attempt in range(args.starts + 1):
                server = start_server(env, pin=args.pin, log=log)
                if attempt:
                    times.append(server.ready_s)
                else:
                    out.setdefault("first_start_s", server.ready_s)
                server.stop()
            out[key] = statistics.median(times)
            print(f"  {key}: {out[key]:.2f} s (median of {len(times)})", file=sys.stderr)

        env = {**cached, **settings}
        server = start_server(env, pin=args.pin, log=log)
        time.sleep(args.settle)
        out["idle_rss_mb"] = rss_mb(server.proc.pid)
        print(f"  idle RSS {out['idle_rss_mb']:.0f} MB", file=sys.stderr)
        try:
            token, flow_id = setup_flow(server, env)
            run_load(server, token, flow_id, concurrency=2, count=args.warmup, seconds=10)
            out["load"] = []
            for concurrency in args.concurrency:
                result = run_load(
                    server,
                    token,
                    flow_id,
                    concurrency=concurrency,
                    count=args.requests,
                    seconds=args.seconds,
                )
                row = {
                    "c": concurrency,
                    "ok": result.ok,
                    "errors": result.errors,
                    "rps": result.rps,
                    "p50_ms": result.percentile(50),
                    "p99_ms": result.percentile(99),
                }
                if result.first_error:
                    row["first_error"] = result.first_error
                out["load"].append(row)
                print(
                    f"  C={concurrency}: {result.rps:.1f} req/s, p50 {row['p50_ms']:.1f} ms,"
                    f" p99 {row['p99_ms']:.1f} ms, {result.errors} errors",
                    file=sys.stderr,
                )
            out["runs"], out["events_per_run"] = events_per_run(settings, flow_id)
            out["rss_after_mb"] = rss_mb(server.proc.pid)
        finally:
            code, took = server.stop()
        out["stop_exit_code"], out["stop_s"] = code, took
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--databases", default="sqlite,postgresql", help="comma-separated: sqlite,postgresql"
    )
    parser.add_argument("--concurrency", default="1,8", help="comma-separated concurrency levels")
    parser.add_argument("--requests", type=int, default=500, help="runs per concurrency level")
    parser.add_argument("--seconds", type=float, default=20, help="time bound per level")
    parser.add_argument("--warmup", type=int, default=30, help="runs before measuring")
    parser.add_argument("--starts", type=int, default=3, help="starts per start-up figure")
    parser.add_argument("--settle", type=float, default=5, help="idle seconds before the RSS")
    parser.add_argument("--no-pin", dest="pin", action="store_false", help="no CPU pinning")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    args.pin = args.pin and shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2
    if args.pin:
        os.sched_setaffinity(0, {1})  # the load generator; the server gets CPU 0

    print(
        f"API benchmark — python {sys.version.split()[0]}, {os.cpu_count()} cpus,"
        f" {'pinned' if args.pin else 'not pinned'}",
        file=sys.stderr,
    )
    tmp = Path(tempfile.mkdtemp(prefix="plait-bench-api-"))
    results = []
    try:
        for kind in args.databases.split(","):
            try:
                results.append(bench_database(kind, args, tmp))
            except Exception as exc:  # one database missing must not hide the other's figures
                if kind == "sqlite":
                    raise
                print(f"  {kind} skipped: {exc}", file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    report(results)


def report(results: list[dict[str, Any]]) -> None:
    def verdict(ok: bool) -> str:
        return "pass" if ok else "FAIL"

    print(f"\n{'database':<11}{'ready':>8}{'ready (cached)':>16}{'idle RSS':>10}{'stop':>8}")
    for r in results:
        print(
            f"{r['database']:<11}{r['ready_s']:>7.2f}s{r['cached_ready_s']:>15.2f}s"
            f"{r['idle_rss_mb']:>8.0f}MB{r['stop_s']:>7.2f}s"
        )
    for r in results:
        ready, cached = r["ready_s"] <= READY_GOAL_S, r["cached_ready_s"] <= READY_GOAL_S
        small = r["idle_rss_mb"] <= IDLE_RSS_GOAL_MB
        print(
            f"{r['database']}: ready ≤ {READY_GOAL_S:.0f} s: {verdict(ready)} as configured,"
            f" {verdict(cached)} with a bytecode cache;"
            f" idle RSS ≤ {IDLE_RSS_GOAL_MB:.0f} MB: {verdict(small)};"
            f" SIGTERM exit {r['stop_exit_code']}"
        )
    header = f"{'database':<11}{'C':>3}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
    print(f"\n{header}{'events/run':>12}")
    for r in results:
        per_run = r.get("events_per_run", float("nan"))
        for row in r.get("load", []):
            print(
                f"{r['database']:<11}{row['c']:>3}{row['rps']:>9.1f}{row['p50_ms']:>9.1f}"
                f"{row['p99_ms']:>9.1f}{row['errors']:>8}{per_run:>12.1f}"
            )
            if row.get("first_error"):
                print(f"    first error: {row['first_error']}")
        if "rss_after_mb" in r:
            print(
                f"{r['database']}: {r['runs']} runs; RSS after the load {r['rss_after_mb']:.0f} MB"
            )


if __name__ == "__main__":
    main()
