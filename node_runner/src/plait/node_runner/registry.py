"""The node registry: node classes keyed by (type, version), found through entry points.

A package registers nodes with an entry point in the ``plait.nodes`` group whose value
is a sequence of ``Node`` subclasses (or a callable returning one)::

    [project.entry-points."plait.nodes"]
    mynodes = "my_package.nodes:NODES"
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from importlib.metadata import entry_points
from typing import Any

from .ports import PORT_TYPES, fits
from .sdk import Node

ENTRY_POINT_GROUP = "plait.nodes"
CATALOGUE_VERSION = 1

log = logging.getLogger(__name__)


class RegistryError(Exception):
    pass


class NodeRegistry:
    """Node classes by (type, version). Both versions of a type stay until a migration exists."""

    def __init__(self, nodes: Iterable[type[Node]] = ()) -> None:
        self._nodes: dict[tuple[str, int], type[Node]] = {}
        for cls in nodes:
            self.register(cls)

    @classmethod
    def discover(cls, group: str = ENTRY_POINT_GROUP) -> NodeRegistry:
        """A registry of every node any installed package registers under ``group``."""
        registry = cls()
        for ep in sorted(entry_points(group=group), key=lambda e: e.name):
            loaded = ep.load()
            items = loaded() if callable(loaded) and not isinstance(loaded, type) else loaded
            if isinstance(items, type):
                items = [items]
            for node_cls in items:
                registry.register(node_cls)
        return registry

    def register(self, cls: type[Node]) -> type[Node]:
        if not (isinstance(cls, type) and issubclass(cls, Node)) or "spec" not in vars(cls):
            raise RegistryError(f"{cls!r} is not a Node subclass with a spec")
        key = (cls.spec.type, cls.spec.version)
        existing = self._nodes.get(key)
        if existing is not None and existing is not cls:
            first = f"{existing.__module__}.{existing.__name__}"
            second = f"{cls.__module__}.{cls.__name__}"
            raise RegistryError(f"node {key[0]} v{key[1]} registered twice: {first} and {second}")
        self._nodes[key] = cls
        return cls

    def get(self, type_: str, version: int) -> type[Node] | None:
        return self._nodes.get((type_, version))

    def versions(self, type_: str) -> list[int]:
        return sorted(v for (t, v) in self._nodes if t == type_)

    def __contains__(self, key: object) -> bool:
        return key in self._nodes

    def __iter__(self) -> Any:
        return iter(sorted(self._nodes.values(), key=lambda c: (c.spec.type, c.spec.version)))

    def __len__(self) -> int:
        return len(self._nodes)

    def catalogue(self) -> dict[str, Any]:
        """The catalogue document: every node type as JSON Schema and typed ports."""
        return {
            "catalogue_version": CATALOGUE_VERSION,
            "port_types": list(PORT_TYPES),
            "fits": {s: [t for t in PORT_TYPES if fits(s, t)] for s in PORT_TYPES},
            "nodes": [describe(cls) for cls in self],
        }


def describe(cls: type[Node]) -> dict[str, Any]:
    """One node type's catalogue entry."""
    spec = cls.spec
    entry: dict[str, Any] = {
        "type": spec.type,
        "version": spec.version,
        "title": spec.title,
        "category": spec.category,
        "description": spec.description,
        "idempotent": spec.idempotent,
        "trigger": spec.trigger,
        "params_schema": cls.Params.model_json_schema(mode="validation"),
        "inputs": [p.to_json() for p in cls.input_ports()],
        "outputs": [p.to_json() for p in cls.output_ports()],
    }
    dynamic = cls.dynamic_outputs_doc()
    if dynamic is not None:
        entry["dynamic_outputs"] = dynamic
    if spec.join_param:
        entry["join_param"] = spec.join_param
    return entry
