"""Private Redis and PostgreSQL servers for fault tests that stop, restart or flush them.

The shared servers on 6379 and 5432 are never stopped by a test: a test that needs to take a
server down starts its own, on a free port, with its data in a temporary folder, from the
installed server binaries (``redis-server``; PostgreSQL's ``initdb`` and ``pg_ctl``). Where
the binaries are missing the test skips with a clear message, or fails under
``PLAIT_TEST_STRICT=1`` (``servicekit.unavailable``).

PostgreSQL refuses to run as root, so as root the cluster is made and run as the
``postgres`` system user (``runuser``), in a folder that user owns.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from serverkit import free_port
from servicekit import unavailable

START_TIMEOUT_S = 30.0


def _wait(check: Callable[[], bool], what: str, timeout: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} did not come up within {timeout:.0f} s")


@dataclass
class PrivateRedis:
    """A ``redis-server`` of a test's own: ``stop()``, ``start()`` and ``restart()`` it."""

    port: int
    folder: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            unavailable("redis-server", "not installed (apt-get install redis-server)")
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait(self.ping, f"redis-server on port {self.port}")

    def ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis.from_url(self.url, socket_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        """Stop it hard (SIGKILL): what it held in memory is gone, as after a crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


@contextmanager
def private_redis(folder: Path) -> Iterator[PrivateRedis]:
    """A running private Redis on a free port, stopped on the way out."""
    folder.mkdir(parents=True, exist_ok=True)
    server = PrivateRedis(free_port(), folder)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        unavailable("PostgreSQL server binaries", f"no {name} under /usr/lib/postgresql/*/bin")
    return found[-1]


@dataclass
class PrivatePostgres:
    """A PostgreSQL cluster of a test's own (trust auth, user ``postgres``)."""

    port: int
    folder: Path

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_owner(self, *argv: str) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else list(argv)

    def init(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        subprocess.run(
            self._as_owner(
                _pg_bin("initdb"),
                "-D",
                str(self.folder / "data"),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ),
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            self._as_owner(
                _pg_bin("pg_ctl"),
                "-D",
                str(self.folder / "data"),
                "-o",
                options,
                "-l",
                str(self.folder / "server.log"),
                "-w",
                "-t",
                "30",
                "start",
            ),
            check=True,
            capture_output=True,
        )

    def stop(self, mode: str = "immediate") -> None:
        """Stop the server (``immediate``: no clean shutdown, like a crash)."""
        subprocess.run(
            self._as_owner(
                _pg_bin("pg_ctl"),
                "-D",
                str(self.folder / "data"),
                "-m",
                mode,
                "-w",
                "-t",
                "30",
                "stop",
            ),
            check=False,
            capture_output=True,
        )

    def running(self) -> bool:
        result = subprocess.run(
            [_pg_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
            capture_output=True,
        )
        return result.returncode == 0


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A running private PostgreSQL on a free port, stopped and removed on the way out.

    Its folder is made directly under the system's temporary folder: pytest's ``tmp_path``
    sits under a root-only folder the ``postgres`` user could not enter."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="plait-pg-"))
    server = PrivatePostgres(free_port(), folder)
    server.init()
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
