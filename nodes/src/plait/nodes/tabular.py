"""Table nodes: filter, sort, aggregate rows; parse and format CSV."""

from __future__ import annotations

from plait.node_runner.sdk import Node

NODES: list[type[Node]] = []
