"""sql.query: a parameterised SQL query against a database named by a secret."""

from __future__ import annotations

from plait.node_runner.sdk import Node

NODES: list[type[Node]] = []
