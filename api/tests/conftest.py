"""Shared fixtures: the CLI in-process (Typer's CliRunner) and as a real subprocess.

Every test gets its own ``PLAIT_DATA_DIR`` under ``tmp_path``, so blobs of one test never
leak into another or into the working tree.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

# Let the tests import their helpers as ``clikit``.
sys.path.insert(0, str(Path(__file__).parent))

from apikit import Api, client_for, new_workspace, platform_for
from clikit import PLAIT, REPO, flow_doc, subprocess_env

from plait.api.cli import app

Cli = Callable[..., Result]
Proc = Callable[..., "subprocess.CompletedProcess[str]"]


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "plait-data"
    monkeypatch.setenv("PLAIT_DATA_DIR", str(path))
    return path


@pytest.fixture
def cli(data_dir: Path) -> Cli:
    """``cli(*args, input=None)`` runs ``plait`` in this process and returns the result."""
    runner = CliRunner()

    def invoke(*args: str | Path, input: str | None = None) -> Result:
        return runner.invoke(app, [str(a) for a in args], input=input, prog_name="plait")

    return invoke


@pytest.fixture
def plait_proc(data_dir: Path) -> Proc:
    """``plait_proc(*args)`` runs ``plait`` in a subprocess and waits for it."""

    def run(*args: str | Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*PLAIT, *(str(a) for a in args)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=subprocess_env(data_dir),
            cwd=REPO,
        )

    return run


@pytest.fixture
def write_flow(tmp_path: Path) -> Callable[..., Path]:
    """``write_flow(nodes, edges, **flow_fields)`` writes a flow file and returns its path."""
    counter = iter(range(1_000_000))

    def write(nodes: list[dict[str, Any]], edges: list[dict[str, Any]], **fields: Any) -> Path:
        path = tmp_path / f"flow{next(counter)}.json"
        path.write_text(json.dumps(flow_doc(nodes, edges, **fields), indent=2))
        return path

    return write


@pytest.fixture(params=["sqlite", "postgresql"])
def db_kind(request: pytest.FixtureRequest) -> str:
    """Run a test on SQLite and on the local PostgreSQL."""
    return str(request.param)


@pytest.fixture
def platform(tmp_path: Path) -> Any:
    """A migrated platform on SQLite."""
    with platform_for("sqlite", tmp_path / "platform") as platform:
        yield platform


@pytest.fixture
def any_platform(db_kind: str, tmp_path: Path) -> Any:
    """A migrated platform on SQLite, then on PostgreSQL."""
    with platform_for(db_kind, tmp_path / "platform") as platform:
        yield platform


@pytest.fixture
def api(platform: Any) -> Any:
    """An HTTP client with an owner token of workspace "alpha"."""
    with client_for(platform) as client:
        yield Api(client, new_workspace(platform, "alpha"))


@pytest.fixture
def any_api(any_platform: Any) -> Any:
    """``api`` on SQLite, then on PostgreSQL."""
    with client_for(any_platform) as client:
        yield Api(client, new_workspace(any_platform, "alpha"))
