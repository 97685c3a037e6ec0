"""Nodes that run another published flow as a child run: flow.call, tool.flow."""

from __future__ import annotations

from plait.node_runner.sdk import Node

NODES: list[type[Node]] = []
