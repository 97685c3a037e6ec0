"""memory.conversation: an agent's conversation history per session."""

from __future__ import annotations

from plait.node_runner.sdk import Node

NODES: list[type[Node]] = []
