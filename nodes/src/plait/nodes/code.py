"""data.code: user Python run in a sandboxed separate process."""

from __future__ import annotations

from plait.node_runner.sdk import Node

NODES: list[type[Node]] = []
