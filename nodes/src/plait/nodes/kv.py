"""kv.get and kv.set: the flow's durable key-value store."""

from __future__ import annotations

from plait.node_runner.sdk import Node

NODES: list[type[Node]] = []
