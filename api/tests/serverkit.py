"""``plait serve`` as a real subprocess on a free port, for tests that need a live server."""

from __future__ import annotations

import queue
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from clikit import PLAIT, REPO, subprocess_env

from plait.api.platform import Platform
from plait.api.settings import load_settings

LOGIN_LINK = re.compile(r"(http://\S+/api/auth/link\?token=\S+)")
START_TIMEOUT_S = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A running ``plait serve``: its URL, the login link it printed, its output so far."""

    proc: subprocess.Popen[str]
    url: str
    login_url: str
    data_dir: Path
    stderr_path: Path
    stdout_lines: list[str] = field(default_factory=list)

    @property
    def stdout(self) -> str:
        return "".join(self.stdout_lines)

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> tuple[int, float]:
        """Send ``sig`` and wait; (exit code, seconds it took)."""
        started = time.monotonic()
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=timeout)
        return code, time.monotonic() - started


def _pump(stream: object, lines: queue.Queue[str | None]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        lines.put(line)
    lines.put(None)


@contextmanager
def running_server(
    data_dir: Path,
    *args: str,
    env: dict[str, str] | None = None,
    log_dir: Path | None = None,
) -> Iterator[Server]:
    """Start ``plait serve --port <free> *args`` on ``data_dir``; stop it (SIGKILL if it
    must) on the way out. The editor build is pointed at a missing directory unless
    ``env`` says otherwise, so a build in the checkout does not change what tests see."""
    port = free_port()
    full_env = subprocess_env(data_dir)
    full_env["PLAIT_EDITOR_DIST"] = str(data_dir / "no-editor-build")
    full_env.update(env or {})
    stderr_path = (log_dir or data_dir.parent) / f"serve-{port}.stderr"
    with open(stderr_path, "w") as stderr:
        proc = subprocess.Popen(
            [*PLAIT, "serve", "--port", str(port), "--router-port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=full_env,
            cwd=REPO,
        )
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True).start()
    server = Server(proc, f"http://127.0.0.1:{port}", "", data_dir, stderr_path)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not server.login_url:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"plait serve did not start:\n{server.stderr}") from None
            if line is None:
                proc.wait(timeout=10)
                raise AssertionError(
                    f"plait serve exited {proc.returncode}:\n{server.stdout}\n{server.stderr}"
                )
            server.stdout_lines.append(line)
            if match := LOGIN_LINK.search(line):
                server.login_url = match.group(1)
        # The banner ends with the Ctrl-C hint; take it all in.
        while not server.stdout.rstrip().endswith("to stop."):
            line = lines.get(timeout=10)
            if line is None:
                break
            server.stdout_lines.append(line)
        yield server
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def platform_on(data_dir: Path) -> Iterator[Platform]:
    """The platform of a server's data dir (SQLite), to look at what it wrote."""
    platform = Platform(load_settings(data_dir=data_dir))
    try:
        yield platform
    finally:
        platform.db.dispose()
