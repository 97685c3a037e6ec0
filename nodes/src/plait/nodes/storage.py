"""Storage nodes: s3.get, s3.put, s3.list."""

from __future__ import annotations

from plait.node_runner.sdk import Node

NODES: list[type[Node]] = []
