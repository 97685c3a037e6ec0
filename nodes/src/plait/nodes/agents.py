"""agent.chat: a chat model with a tool-calling loop."""

from __future__ import annotations

from plait.node_runner.sdk import Node

NODES: list[type[Node]] = []
