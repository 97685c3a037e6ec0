"""From a bundle to what the executor walks: node classes bound to their plan entries.

Loading a bundle executes its ``flow.py``. The bundle's digests are checked first, and by
default ``flow.py`` must be byte-for-byte what this compiler renders from the bundle's own
``flow.json`` — so a bundle from a shared store cannot carry code of its own.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError

from .compiler import Bundle, render_flow_module
from .errors import BundleError
from .expressions import CompiledParams
from .plan import Edge, NodePlan
from .ports import X_RAW
from .registry import NodeRegistry
from .sdk import Node


class PreparedNode:
    """One node of a loaded bundle, with everything the hot path needs precomputed."""

    __slots__ = (
        "ancestors_cache",
        "cls",
        "has_inputs",
        "id",
        "idempotent",
        "in_edges",
        "instance",
        "is_async",
        "join",
        "out_edges",
        "output_names",
        "params",
        "plan",
        "required_ports",
        "services",
        "static_outputs",
        "step",
        "trigger",
        "uses_names",
    )

    def __init__(self, node_id: str, plan: NodePlan, cls: type[Node], step: Callable[..., Any]):
        self.id = node_id
        self.plan = plan
        self.cls = cls
        self.step = step
        self.join = plan.join
        self.idempotent = cls.spec.idempotent
        self.trigger = cls.spec.trigger
        self.is_async = cls.is_async
        self.in_edges: list[Edge] = []
        self.out_edges: list[Edge] = []
        # kind -> service node ids, in edge order
        self.services: dict[str, list[str]] = {}
        self.has_inputs = bool(cls.Inputs.model_fields)
        self.required_ports = frozenset(
            p.name for p in cls.input_ports() if p.required and not p.service
        )
        dynamic = cls.dynamic_outputs(plan.params)
        self.static_outputs = dynamic is None
        self.output_names = frozenset(p.name for p in cls.output_ports(plan.params))
        raw = frozenset(
            name
            for name, field in cls.Params.model_fields.items()
            if isinstance(field.json_schema_extra, dict) and field.json_schema_extra.get(X_RAW)
        )
        self.params = CompiledParams(plan.params, raw)
        # Nodes whose params are static get one validated instance, reused by every run.
        self.instance: Node | None = None
        if not self.params.has_expressions:
            try:
                self.instance = cls(cls.Params.model_validate(plan.params))
            except ValidationError:
                self.instance = None  # reported as invalid_params when the node runs
        # The expression names are built only for nodes that can read them.
        self.uses_names = self.params.has_expressions or bool(raw)
        self.ancestors_cache: frozenset[str] | None = None


class ExecutionPlan:
    """A loaded bundle: prepared nodes, edges, triggers and flow settings."""

    def __init__(self, bundle: Bundle, module: types.ModuleType, registry: NodeRegistry):
        self.bundle = bundle
        self.bundle_id = bundle.id
        self.name: str = module.FLOW_NAME
        self.timeout_s: float | None = module.TIMEOUT_S
        self.max_concurrency: int = module.MAX_CONCURRENCY
        self.nodes: dict[str, PreparedNode] = {}
        for node_id, plan in module.NODES.items():
            cls = registry.get(plan.type, plan.version)
            if cls is None:
                raise BundleError(f"bundle needs node {plan.type} v{plan.version}, not installed")
            self.nodes[node_id] = PreparedNode(node_id, plan, cls, module.STEPS[node_id])
        self.edges: dict[str, Edge] = {}
        service_sources: set[str] = set()
        data_sources: set[str] = set()
        for edge in module.EDGES:
            self.edges[edge.id] = edge
            if edge.kind == "data":
                self.nodes[edge.source].out_edges.append(edge)
                self.nodes[edge.target].in_edges.append(edge)
                data_sources.add(edge.source)
                data_sources.add(edge.target)
            else:
                self.nodes[edge.target].services.setdefault(edge.kind, []).append(edge.source)
                service_sources.add(edge.source)
        # Nodes reached only through service edges are called by their agent, never
        # scheduled on their own.
        self.service_only = frozenset(service_sources - data_sources)
        self.scheduled = [n for n in self.nodes if n not in self.service_only]
        self.triggers = [n for n in self.scheduled if self.nodes[n].trigger]
        self.sinks = frozenset(n for n in self.scheduled if not self.nodes[n].out_edges)

    def ancestors(self, node_id: str) -> frozenset[str]:
        """Nodes upstream of ``node_id`` through data edges (cached)."""
        prepared = self.nodes[node_id]
        if prepared.ancestors_cache is None:
            seen: set[str] = set()
            stack = [e.source for e in prepared.in_edges]
            while stack:
                n = stack.pop()
                if n not in seen:
                    seen.add(n)
                    stack.extend(e.source for e in self.nodes[n].in_edges)
            prepared.ancestors_cache = frozenset(seen)
        return prepared.ancestors_cache

    def descendants(self, node_id: str) -> frozenset[str]:
        seen: set[str] = set()
        stack = [e.target for e in self.nodes[node_id].out_edges]
        while stack:
            n = stack.pop()
            if n not in seen:
                seen.add(n)
                stack.extend(e.target for e in self.nodes[n].out_edges)
        return frozenset(seen)


def load_module(bundle: Bundle) -> types.ModuleType:
    """Execute a bundle's ``flow.py`` in a fresh module (it only defines data and functions)."""
    module = types.ModuleType(f"plait_bundle_{bundle.id[:16]}")
    module.__file__ = f"<bundle {bundle.id}>/flow.py"
    code = compile(bundle.files["flow.py"], module.__file__, "exec", dont_inherit=True)
    exec(code, module.__dict__)
    return module


def load_plan(
    bundle: Bundle, registry: NodeRegistry, *, verify_source: bool = True
) -> ExecutionPlan:
    """Prepare a bundle for execution."""
    if verify_source:
        expected = render_flow_module(bundle.flow, registry).encode()
        if expected != bundle.files["flow.py"]:
            raise BundleError(
                f"bundle {bundle.id[:12]}: flow.py is not what this compiler makes of its "
                "flow.json (built by another compiler version, or altered); recompile the flow"
            )
    return ExecutionPlan(bundle, load_module(bundle), registry)


def validate_model(model: type[BaseModel], data: dict[str, Any]) -> BaseModel:
    return model.model_validate(data)
