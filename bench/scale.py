"""Scale-out benchmark: the peer kit's ``/chain`` flow through BullMQ workers against the
local dispatcher, in one run.

Run with ``make bench`` (or ``uv run python bench/scale.py``). Three shapes, one after the
other, on the same fresh PostgreSQL database (``PLAIT_BENCH_PG_URL``, default the one on
127.0.0.1:5432) so that only the run delivery differs:

* ``local`` — ``plait router`` executes the runs itself (``PLAIT_QUEUE=local``);
* ``bullmq-1`` — ``plait router`` enqueues each run on Redis (``PLAIT_QUEUE=bullmq``),
  one ``plait worker`` executes it and the respond node's answer comes back on the
  router's reply channel;
* ``bullmq-2`` — the same with two workers.

The router is pinned to CPU 0, worker *i* to CPU *i mod 2*, the load generator (the
kit's ``load.py``) to CPU 1: on a 2-core machine everything shares the two cores with
Redis and PostgreSQL, which this script reports rather than hides. Printed per shape
and concurrency: runs/s, p50/p99 end-to-end latency; then the queue's overhead per run
at p50 (``bullmq-1`` p50 - ``local`` p50, at C = 1) against the goal of ≤ 2 ms, and the
1 → 2 worker scaling at the highest concurrency.

Tests never assert on time; this script reports. Loopback only; every load is bounded.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("webhook_bench", ROOT / "bench/webhook/run.py")
assert _spec and _spec.loader
webhook = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = webhook  # its dataclasses look their module up there
_spec.loader.exec_module(webhook)

PG_URL = os.environ.get("PLAIT_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("PLAIT_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
CHAIN = next(e for e in webhook.ENDPOINTS if e[0] == "chain")
READY = b"ready:"


def database() -> tuple[str, str]:
    """(admin URL, URL of a new empty database)."""
    import psycopg

    name = f"plait_bench_scale_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_URL, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return PG_URL, f"{PG_URL.rsplit('/', 1)[0]}/{name}"


def drop_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def clear_prefix(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(match=prefix + "*"):
        client.delete(key)
    client.close()


def start_worker(env: dict[str, str], cpu: int, pin: bool, log: Path) -> subprocess.Popen[bytes]:
    cmd = [*webhook.PLAIT, "worker", "--concurrency", "16", "--log-level", "warning"]
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            webhook.pinned(cmd, cpu, pin), env=env, cwd=ROOT, stdout=out, stderr=out
        )
    deadline = time.monotonic() + webhook.READY_TIMEOUT_S
    while READY not in log.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"plait worker did not start; {log}:\n{log.read_text()[-2000:]}")
        time.sleep(0.05)
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def measure_shape(
    name: str, workers: int, env: dict[str, str], args: argparse.Namespace, tmp: Path
) -> list[dict[str, Any]]:
    """Start the router (and the workers), load ``/chain`` at each concurrency."""
    shape_env = {**env, "PLAIT_QUEUE": "bullmq" if workers else "local"}
    procs = [
        start_worker(shape_env, i % 2, args.pin, tmp / f"{name}-worker{i}.log")
        for i in range(workers)
    ]
    port = webhook.free_port()
    cmd = [*webhook.PLAIT, "router", "--port", str(port), "--log-level", "warning"]
    # The router answers /hook once it is up: the kit's ready check.
    router = webhook.spawn(
        name,
        webhook.pinned(cmd, 0, args.pin),
        port,
        f"/p/{webhook.PROJECT}/{webhook.STAGE}",
        env=shape_env,
        log=tmp / f"{name}-router.log",
    )
    rows = []
    try:
        _, path, expect = CHAIN
        for c in args.concurrency:
            print(f"{name}: /chain at C={c} …", file=sys.stderr)
            result = webhook.run_load_py(
                router.url(path), c, expect, args, tmp / f"{name}-{c}.json"
            )
            rows.append({"shape": name, "workers": workers, "c": c, **result})
    finally:
        router.stop()
        for proc in procs:
            stop(proc)
    return rows


def report(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| shape | C | runs/s | p50 ms | p99 ms | errors |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['shape']} | {row['c']} | {row['rps']:,.0f} | {row['p50_ms']:.2f}"
            f" | {row['p99_ms']:.2f} | {row['errors']} |"
        )
    cell = {(row["shape"], row["c"]): row for row in rows}
    low, high = min(r["c"] for r in rows), max(r["c"] for r in rows)
    lines.append("")
    if ("local", low) in cell and ("bullmq-1", low) in cell:
        overhead = cell["bullmq-1", low]["p50_ms"] - cell["local", low]["p50_ms"]
        verdict = "met" if overhead <= 2.0 else "NOT met"
        lines.append(
            f"queue overhead per run at p50, C={low}: {overhead:+.2f} ms"
            f" (bullmq-1 - local; goal ≤ 2 ms: {verdict})"
        )
    if ("bullmq-1", high) in cell and ("bullmq-2", high) in cell:
        one, two = cell["bullmq-1", high]["rps"], cell["bullmq-2", high]["rps"]
        lines.append(
            f"1 → 2 workers at C={high}: {one:,.0f} → {two:,.0f} runs/s ({two / one:.2f}x);"
            " on 2 cores the second worker shares them with the router, Redis, PostgreSQL"
            " and the load generator"
        )
    if ("local", high) in cell and ("bullmq-2", high) in cell:
        ratio = cell["bullmq-2", high]["rps"] / cell["local", high]["rps"]
        lines.append(f"bullmq-2 / local at C={high}: {ratio:.2f}x")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", default="1,16")
    parser.add_argument("--shapes", default="local,bullmq-1,bullmq-2")
    parser.add_argument("--seconds", type=float, default=6.0, help="measured time per cell")
    parser.add_argument("--warmup-seconds", type=float, default=2.0)
    parser.add_argument("--requests", type=int, default=20_000, help="cap per measured cell")
    parser.add_argument("--no-pin", dest="pin", action="store_false")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--json", type=Path, help="append every result row here")
    args = parser.parse_args(argv)
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    args.shapes = [s.strip() for s in args.shapes.split(",") if s.strip()]
    if args.pin and ((os.cpu_count() or 1) < 2 or not webhook.shutil.which("taskset")):
        print("one CPU or no taskset: not pinning", file=sys.stderr)
        args.pin = False
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        _, database_url = database()
    except Exception as exc:
        print(f"NOTE: no PostgreSQL at {PG_URL} ({exc}); set PLAIT_BENCH_PG_URL", file=sys.stderr)
        return 0
    prefix = f"plait-bench-{uuid.uuid4().hex[:8]}:"
    rows: list[dict[str, Any]] = []
    try:
        with webhook.workdir(args.keep) as tmp:
            env = {k: v for k, v in os.environ.items() if not k.startswith("PLAIT_")}
            env.update(
                NO_COLOR="1",
                PLAIT_EDITOR_DIST=str(tmp / "no-editor"),
                PLAIT_DATA_DIR=str(tmp / "data"),
                PLAIT_DATABASE_URL=database_url,
                PLAIT_REDIS_URL=REDIS_URL,
                PLAIT_REDIS_PREFIX=prefix,
            )
            print("publishing the flows …", file=sys.stderr)
            webhook.publish_plait_flows(env, tmp)
            for shape in args.shapes:
                workers = 0 if shape == "local" else int(shape.split("-")[1])
                rows += measure_shape(shape, workers, env, args, tmp)
    finally:
        drop_database(database_url)
        clear_prefix(prefix)
    sys.stdout.write(report(rows))
    if args.json:
        with open(args.json, "a") as out:
            for row in rows:
                out.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
