"""tool.calculator: arithmetic an agent can call, parsed safely (no eval)."""

from __future__ import annotations

from plait.node_runner.sdk import Node

NODES: list[type[Node]] = []
