"""Helpers for the CLI tests: paths, flow documents, events files."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"

# The CLI as a subprocess without `uv run`'s start-up cost: this interpreter runs the
# module, which calls main() under `if __name__ == "__main__"`.
PLAIT = [sys.executable, "-m", "plait.api.cli"]


def node(node_id: str, type_: str, params: dict[str, Any] | None = None, **extra: Any) -> dict:
    """A flow node document."""
    return {"id": node_id, "type": type_, "version": 1, "params": params or {}, **extra}


def edge(edge_id: str, source: str, source_port: str, target: str, target_port: str) -> dict:
    """A flow edge document."""
    return {
        "id": edge_id,
        "source": source,
        "source_port": source_port,
        "target": target,
        "target_port": target_port,
    }


def flow_doc(nodes: list[dict[str, Any]], edges: list[dict[str, Any]], **fields: Any) -> dict:
    return {"schema_version": 1, "name": "Test flow", "nodes": nodes, "edges": edges, **fields}


def read_events(path: Path) -> list[dict[str, Any]]:
    """The events of a JSON-lines events file, in file order.

    Only whole lines count: a file another process is appending to may end in a line
    that is still being written.
    """
    text = path.read_text()
    whole = text[: text.rfind("\n") + 1]
    return [json.loads(line) for line in whole.splitlines() if line.strip()]


def subprocess_env(data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PLAIT_DATA_DIR"] = str(data_dir)
    # No colours: the CLI must print plain lines into a pipe.
    env.pop("FORCE_COLOR", None)
    env["NO_COLOR"] = "1"
    return env
