"""Chat model nodes: OpenAI-compatible Chat Completions, Anthropic Messages, Bedrock Converse."""

from __future__ import annotations

from plait.node_runner.sdk import Node

NODES: list[type[Node]] = []
