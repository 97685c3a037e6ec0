"""Vector memory on Qdrant: vector.upsert, vector.search, knowledge.ingest."""

from __future__ import annotations

from plait.node_runner.sdk import Node

NODES: list[type[Node]] = []
