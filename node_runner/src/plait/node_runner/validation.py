"""Flow validation (ARCHITECTURE.md §5): every problem with a flow, located, at once.

``validate`` never raises for a bad flow: it returns a list of ``Problem`` objects, each
with a stable ``code``, a message a person can act on, and where it is (``node_id``,
``edge_id``, ``field``) so the editor can put a red mark on the right spot. Problems come
in document order: flow-level problems first, then each node's in node order, then each
edge's in edge order; the order is the same every time for the same flow.

What is checked here is what can be known before a run. A string param holding a
``{{ … }}`` expression only has a value at run time, so the Params model is not applied
to it; the expression must parse, and the nodes it reads must be upstream.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import FlowError
from .expressions import has_expression, iter_param_strings, node_references, parse_problem
from .flow import SCHEMA_VERSION, Flow, FlowEdge, FlowNode, check_unicode
from .graph import FlowGraph
from .ports import ERROR_PORT, Port, fits
from .registry import NodeRegistry
from .sdk import Node

__all__ = [
    "BAD_EXPRESSION",
    "BAD_REFERENCE",
    "CYCLE",
    "DUPLICATE_ID",
    "DYNAMIC_REFERENCE",
    "INVALID_DOCUMENT",
    "INVALID_PARAMS",
    "MISSING_NODE",
    "MISSING_PORT",
    "MULTIPLE_EDGES",
    "NO_TRIGGER",
    "REQUIRED_INPUT",
    "TYPE_MISMATCH",
    "UNKNOWN_NODE_TYPE",
    "UNREACHABLE",
    "Problem",
    "Severity",
    "has_errors",
    "validate",
]

Severity = Literal["error", "warning"]

# Problem codes. They are part of the API: the editor and scripts match on them.
INVALID_DOCUMENT = "invalid_document"
DUPLICATE_ID = "duplicate_id"
UNKNOWN_NODE_TYPE = "unknown_node_type"
INVALID_PARAMS = "invalid_params"
MISSING_NODE = "missing_node"
MISSING_PORT = "missing_port"
TYPE_MISMATCH = "type_mismatch"
MULTIPLE_EDGES = "multiple_edges"
REQUIRED_INPUT = "required_input"
CYCLE = "cycle"
BAD_EXPRESSION = "bad_expression"
BAD_REFERENCE = "bad_reference"
DYNAMIC_REFERENCE = "dynamic_reference"
NO_TRIGGER = "no_trigger"
UNREACHABLE = "unreachable"

# A node with ``on_error: error_port`` gains this output port.
_ERROR_PORT = Port(name=ERROR_PORT, type="error")


class Problem(BaseModel):
    """One thing wrong with a flow, and where it is.

    ``field`` is a dotted path inside the object that ``edge_id`` names, else inside the
    node that ``node_id`` names (``params.url``, ``join``, ``inputs.<port>``), else inside
    the document. ``invalid_document`` problems always use the document path
    (``nodes.3.position.x``), since they may come from a document that is not yet a flow.
    """

    model_config = ConfigDict(frozen=True)

    code: str
    message: str
    node_id: str | None = None
    edge_id: str | None = None
    field: str | None = None
    severity: Severity = "error"


def has_errors(problems: Iterable[Problem]) -> bool:
    """True when any problem is an error (warnings do not stop compiling or publishing)."""
    return any(p.severity == "error" for p in problems)


def validate(
    flow: Flow | Mapping[str, Any],
    registry: NodeRegistry,
    *,
    require_trigger: bool = True,
) -> list[Problem]:
    """Every problem with ``flow``, in document order; an empty list when it is valid.

    Args:
        flow: A flow, or a parsed JSON document that may not even be a flow yet.
        registry: The node types the flow may use.
        require_trigger: Report ``no_trigger`` for a flow without a trigger node. Publishing
            needs one; a draft or a sub-flow may not.

    Returns:
        The problems, flow-level first, then per node and per edge in document order.
    """
    if not isinstance(flow, Flow):
        parsed = _parse_document(flow)
        if isinstance(parsed, list):
            return parsed
        flow = parsed
    return _Validator(flow, registry, require_trigger=require_trigger).run()


# -- the document --------------------------------------------------------------------


def _parse_document(doc: object) -> Flow | list[Problem]:
    """The flow in ``doc``, or one ``invalid_document`` problem per reason it is not one."""
    if not isinstance(doc, Mapping):
        return [Problem(code=INVALID_DOCUMENT, message="a flow document must be a JSON object")]
    try:
        check_unicode(doc)
        return Flow.model_validate(dict(doc))
    except FlowError as exc:
        return [Problem(code=INVALID_DOCUMENT, message=str(exc))]
    except RecursionError:
        return [Problem(code=INVALID_DOCUMENT, message="the flow document is nested too deeply")]
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False, include_input=False):
            loc = err["loc"]
            msg = err["msg"].removeprefix("Value error, ")
            if not loc and doc.get("schema_version", SCHEMA_VERSION) != SCHEMA_VERSION:
                loc = ("schema_version",)  # raised by a model validator, so pydantic has no loc
            path = ".".join(str(part) for part in loc) or None
            problems.append(
                Problem(
                    code=INVALID_DOCUMENT,
                    message=f"{_short(path, 120)}: {msg}" if path else msg,
                    node_id=_raw_id(doc, "nodes", loc),
                    edge_id=_raw_id(doc, "edges", loc),
                    field=path,
                )
            )
        return problems


def _raw_id(doc: Mapping[str, Any], section: str, loc: tuple[int | str, ...]) -> str | None:
    """The id of ``doc[section][i]`` when ``loc`` points inside it and it has a string id."""
    if len(loc) < 2 or loc[0] != section or not isinstance(loc[1], int):
        return None
    items = doc.get(section)
    if not isinstance(items, list) or not 0 <= loc[1] < len(items):
        return None
    item = items[loc[1]]
    value = item.get("id") if isinstance(item, dict) else None
    return value if isinstance(value, str) else None


def _non_finite_paths(value: Any, path: tuple[str | int, ...] = ()) -> Iterator[str]:
    """Dotted paths of NaN and infinite numbers in JSON data (JSON cannot carry them)."""
    if isinstance(value, float):
        if not math.isfinite(value):
            yield ".".join(str(p) for p in path)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _non_finite_paths(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _non_finite_paths(item, (*path, i))


# -- helpers -------------------------------------------------------------------------


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _q(text: str) -> str:
    """Quote a user string for a message: repr (no raw newlines or controls), shortened."""
    return repr(_short(text))


def _path(parts: Iterable[str | int]) -> str:
    return ".".join(str(p) for p in parts)


_ABSENT = object()


def _child(value: Any, part: int | str) -> Any:
    """``value[part]`` in JSON data, or ``_ABSENT`` when there is no such place."""
    if isinstance(value, dict):
        return value.get(part, _ABSENT)
    if isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value):
        return value[part]
    return _ABSENT


def _expression_at(params: Mapping[str, Any], loc: tuple[int | str, ...]) -> bool:
    """True when ``loc`` is at or inside a string that holds an expression."""
    value: Any = params
    for part in loc:
        if isinstance(value, str):
            break
        value = _child(value, part)
        if value is _ABSENT:
            return False
    return isinstance(value, str) and has_expression(value)


def _data_loc(params: Mapping[str, Any], loc: tuple[int | str, ...], missing: bool) -> str:
    """The part of a pydantic ``loc`` that exists in the data, as ``params.<path>``.

    Pydantic puts the names of union members and validators into ``loc``
    (``status.int``); those are not places in the document, so the path stops at the
    deepest value that exists, plus the absent key for a ``missing`` error.
    """
    kept: list[int | str] = []
    value: Any = params
    for part in loc:
        child = _child(value, part)
        if child is _ABSENT:
            if missing and isinstance(value, dict):
                kept.append(part)
            break
        kept.append(part)
        value = child
    return _path(("params", *kept))


@dataclass(frozen=True, slots=True)
class _ParamsInfo:
    """What validation needs to know about a node class's Params model, once per class."""

    keys: frozenset[str]
    allows_extra: bool


@dataclass(frozen=True, slots=True)
class _Entry:
    sort_key: tuple[int, int]
    problem: Problem


class _Validator:
    """One validation pass over one flow. Not reused: it caches per-flow lookups."""

    def __init__(self, flow: Flow, registry: NodeRegistry, *, require_trigger: bool) -> None:
        self.flow = flow
        self.registry = registry
        self.require_trigger = require_trigger
        self.graph = FlowGraph.from_flow(flow)
        self.entries: list[_Entry] = []
        # First document position of each node id: duplicates resolve to the first node,
        # as they do in the graph.
        self.first: dict[str, int] = {}
        for i, node in enumerate(flow.nodes):
            self.first.setdefault(node.id, i)
        self.classes: list[type[Node] | None] = [
            registry.get(node.type, node.version) for node in flow.nodes
        ]
        self._inputs: dict[type[Node], dict[str, Port]] = {}
        self._outputs: dict[int, dict[str, Port] | None] = {}
        self._params_info: dict[type[Node], _ParamsInfo] = {}

    # -- reporting -----------------------------------------------------------------

    def _flow_problem(self, code: str, message: str, **where: Any) -> None:
        self.entries.append(_Entry((0, 0), Problem(code=code, message=message, **where)))

    def _node_problem(self, index: int, code: str, message: str, **where: Any) -> None:
        node_id = self.flow.nodes[index].id
        problem = Problem(code=code, message=message, node_id=node_id, **where)
        self.entries.append(_Entry((1, index), problem))

    def _edge_problem(self, index: int, code: str, message: str, **where: Any) -> None:
        edge_id = self.flow.edges[index].id
        problem = Problem(code=code, message=message, edge_id=edge_id, **where)
        self.entries.append(_Entry((2, index), problem))

    def run(self) -> list[Problem]:
        self._check_document()
        for i, node in enumerate(self.flow.nodes):
            self._check_node(i, node)
        fed = self._check_edges()
        self._check_required_inputs(fed)
        self._check_cycles()
        self._check_triggers()
        # A stable sort: within one place, problems keep the order they were found in.
        self.entries.sort(key=lambda entry: entry.sort_key)
        return [entry.problem for entry in self.entries]

    # -- ports ---------------------------------------------------------------------

    def _input_ports(self, index: int) -> dict[str, Port] | None:
        """Input ports by name; ``None`` when the node's type is unknown."""
        cls = self.classes[index]
        if cls is None:
            return None
        ports = self._inputs.get(cls)
        if ports is None:
            # A trigger takes the run's payload, never edges.
            ports = {} if cls.spec.trigger else {p.name: p for p in cls.input_ports()}
            self._inputs[cls] = ports
        return ports

    def _output_ports(self, index: int) -> dict[str, Port] | None:
        """Output ports by name (params may choose them); ``None`` when they are unknown."""
        if index in self._outputs:
            return self._outputs[index]
        node = self.flow.nodes[index]
        cls = self.classes[index]
        ports: dict[str, Port] | None = None
        if cls is not None:
            try:
                ports = {p.name: p for p in cls.output_ports(node.params)}
            except Exception as exc:  # node code; a bug there must not stop validation
                self._node_problem(
                    index,
                    INVALID_PARAMS,
                    f"node {_q(node.id)}: its output ports could not be worked out from "
                    f"its params: {type(exc).__name__}: {_short(str(exc), 200)}",
                    field="params",
                )
            else:
                if node.on_error == "error_port":
                    ports.setdefault(_ERROR_PORT.name, _ERROR_PORT)
        self._outputs[index] = ports
        return ports

    # -- document ------------------------------------------------------------------

    def _check_document(self) -> None:
        # A Flow built in Python (not parsed from JSON text) may hold NaN or infinities
        # that the canonical JSON form cannot write; params are reported with the node.
        for path in _non_finite_paths(self.flow.meta, ("meta",)):
            self._flow_problem(INVALID_DOCUMENT, f"{path}: not a finite JSON number", field=path)
        for i, node in enumerate(self.flow.nodes):
            position = node.position.model_dump()
            for path in [
                *_non_finite_paths(position, ("nodes", i, "position")),
                *_non_finite_paths(node.meta, ("nodes", i, "meta")),
            ]:
                self._node_problem(
                    i, INVALID_DOCUMENT, f"{path}: not a finite JSON number", field=path
                )

    # -- nodes ---------------------------------------------------------------------

    def _check_node(self, index: int, node: FlowNode) -> None:
        if self.first[node.id] != index:
            self._node_problem(
                index,
                DUPLICATE_ID,
                f"node id {_q(node.id)} is used by more than one node "
                f"(first at position {self.first[node.id]})",
                field="id",
            )
        cls = self.classes[index]
        if cls is None:
            self._report_unknown_type(index, node)
        else:
            self._check_params(index, node, cls)
        self._check_expressions(index, node)

    def _report_unknown_type(self, index: int, node: FlowNode) -> None:
        versions = self.registry.versions(node.type)
        if versions:
            listed = ", ".join(str(v) for v in versions)
            message = (
                f"node {_q(node.id)}: {_q(node.type)} has no version {node.version}; "
                f"installed versions: {listed}"
            )
            self._node_problem(index, UNKNOWN_NODE_TYPE, message, field="version")
        else:
            message = f"node {_q(node.id)}: unknown node type {_q(node.type)}"
            self._node_problem(index, UNKNOWN_NODE_TYPE, message, field="type")

    def _info(self, cls: type[Node]) -> _ParamsInfo:
        info = self._params_info.get(cls)
        if info is None:
            model = cls.Params
            keys: set[str] = set()
            for name, field in model.model_fields.items():
                keys.add(field.alias or name)
                if field.alias is None or model.model_config.get("populate_by_name"):
                    keys.add(name)
                if isinstance(field.validation_alias, str):
                    keys.add(field.validation_alias)
            info = _ParamsInfo(frozenset(keys), model.model_config.get("extra") == "allow")
            self._params_info[cls] = info
        return info

    def _check_params(self, index: int, node: FlowNode, cls: type[Node]) -> None:
        params = node.params
        prefix = f"node {_q(node.id)}"
        for path in _non_finite_paths(params, ("params",)):
            self._node_problem(
                index, INVALID_PARAMS, f"{prefix}: {path} is not a finite number", field=path
            )

        info = self._info(cls)
        if not info.allows_extra:
            for key in params:
                if key not in info.keys:
                    self._node_problem(
                        index,
                        INVALID_PARAMS,
                        f"{prefix}: {_q(key)} is not a param of {cls.spec.type}",
                        field=f"params.{key}",
                    )

        messages: dict[str, list[str]] = {}
        try:
            cls.Params.model_validate(params)
        except ValidationError as exc:
            for err in exc.errors(include_url=False, include_input=False):
                loc = err["loc"]
                if err["type"] == "extra_forbidden" and len(loc) == 1:
                    continue  # reported above, the same way for every model
                if _expression_at(params, loc):
                    continue  # its value is only known at run time
                field = _data_loc(params, loc, missing=err["type"] == "missing")
                found = messages.setdefault(field, [])
                if err["msg"] not in found:
                    found.append(err["msg"])
        except Exception as exc:  # a validator in node code raised something odd
            messages["params"] = [f"{type(exc).__name__}: {_short(str(exc), 200)}"]
        for field, found in messages.items():
            # Union members each report at the same place; one problem says it all.
            self._node_problem(
                index, INVALID_PARAMS, f"{prefix}: {field}: {'; '.join(found)}", field=field
            )

        join_param = cls.spec.join_param
        if join_param and join_param in params:
            value = params[join_param]
            if isinstance(value, str) and has_expression(value):
                self._node_problem(
                    index,
                    INVALID_PARAMS,
                    f"{prefix}: {join_param} is this node's join, so it must be a plain "
                    "value, not an expression",
                    field=f"params.{join_param}",
                )
            elif node.join is not None and value != node.join:
                self._node_problem(
                    index,
                    INVALID_PARAMS,
                    f"{prefix}: join {node.join!r} disagrees with param {join_param} "
                    f"{_short(repr(value))}; set one of them, or make them agree",
                    field="join",
                )

    def _check_expressions(self, index: int, node: FlowNode) -> None:
        for parts, text in iter_param_strings(node.params):
            if not has_expression(text):
                continue
            field = _path(("params", *parts))
            prefix = f"node {_q(node.id)}: {field}"
            problem = parse_problem(text)
            if problem is not None:
                self._node_problem(
                    index, BAD_EXPRESSION, f"{prefix}: bad expression: {problem}", field=field
                )
                continue
            # Only a text that mentions ``nodes`` can read it; skip the second parse otherwise.
            refs = node_references(text) if "nodes" in text else frozenset[str]()
            if refs is None:
                self._node_problem(
                    index,
                    DYNAMIC_REFERENCE,
                    f"{prefix}: reads `nodes` dynamically, so it cannot be checked; only "
                    "the outputs of upstream nodes are there at run time",
                    field=field,
                    severity="warning",
                )
                continue
            for ref in sorted(refs):
                reason = self._reference_problem(node.id, ref)
                if reason is not None:
                    self._node_problem(
                        index, BAD_REFERENCE, f"{prefix}: reads nodes.{ref}, {reason}", field=field
                    )

    def _reference_problem(self, node_id: str, ref: str) -> str | None:
        if ref not in self.graph:
            return f"but there is no node {_q(ref)}"
        if ref == node_id:
            return "its own outputs, which do not exist until it has run"
        if not self.graph.is_ancestor(ref, node_id):
            return (
                f"but {_q(ref)} is not upstream of this node; connect it with data edges "
                "so that it runs first"
            )
        return None

    # -- edges ---------------------------------------------------------------------

    def _check_edges(self) -> set[tuple[int, str]]:
        """Check every edge; return the (node position, input port) pairs data edges feed."""
        seen_ids: dict[str, int] = {}
        fed: set[tuple[int, str]] = set()
        for j, edge in enumerate(self.flow.edges):
            first = seen_ids.setdefault(edge.id, j)
            if first != j:
                self._edge_problem(
                    j,
                    DUPLICATE_ID,
                    f"edge id {_q(edge.id)} is used by more than one edge (first at "
                    f"position {first})",
                    field="id",
                )
            source = self.first.get(edge.source)
            target = self.first.get(edge.target)
            for end, index in (("source", source), ("target", target)):
                if index is None:
                    self._edge_problem(
                        j,
                        MISSING_NODE,
                        f"edge {_q(edge.id)}: its {end} {_q(getattr(edge, end))} is not a node",
                        field=end,
                    )
            source_port = None
            if source is not None and edge.kind == "data":
                source_port = self._check_source_port(j, edge, source)
            if target is not None:
                self._check_target_port(j, edge, target, source_port, fed)
        return fed

    def _check_source_port(self, j: int, edge: FlowEdge, source: int) -> Port | None:
        outputs = self._output_ports(source)
        if outputs is None:
            return None
        port = outputs.get(edge.source_port)
        if port is None:
            node = self.flow.nodes[source]
            message = (
                f"edge {_q(edge.id)}: node {_q(edge.source)} has no output {_q(edge.source_port)}"
            )
            if edge.source_port == _ERROR_PORT.name:
                message += "; set its on_error to 'error_port' to route its errors there"
            elif outputs:
                message += f" (outputs: {', '.join(_q(p) for p in outputs)})"
            self._edge_problem(j, MISSING_PORT, message, node_id=node.id, field="source_port")
        return port

    def _check_target_port(
        self,
        j: int,
        edge: FlowEdge,
        target: int,
        source_port: Port | None,
        fed: set[tuple[int, str]],
    ) -> None:
        inputs = self._input_ports(target)
        if inputs is None:
            return
        node = self.flow.nodes[target]
        where = {"node_id": node.id, "field": "target_port"}
        port = inputs.get(edge.target_port)
        if port is None:
            message = f"edge {_q(edge.id)}: node {_q(node.id)} has no input {_q(edge.target_port)}"
            cls = self.classes[target]
            if cls is not None and cls.spec.trigger:
                message += "; a trigger node has no inputs, it starts the run"
            elif inputs:
                message += f" (inputs: {', '.join(_q(p) for p in inputs)})"
            self._edge_problem(j, MISSING_PORT, message, **where)
            return
        if edge.kind != "data":
            if port.service != edge.kind:
                actual = f"a {port.service} service port" if port.service else "a data input"
                self._edge_problem(
                    j,
                    TYPE_MISMATCH,
                    f"edge {_q(edge.id)}: a {edge.kind} edge must end on a {edge.kind} service "
                    f"port, and input {_q(port.name)} of {_q(node.id)} is {actual}",
                    **where,
                )
            return
        if port.service:
            self._edge_problem(
                j,
                TYPE_MISMATCH,
                f"edge {_q(edge.id)}: input {_q(port.name)} of {_q(node.id)} is a "
                f"{port.service} service port; set the edge's kind to {port.service!r}",
                **where,
            )
            return
        key = (target, port.name)
        if key in fed and not port.multi:
            self._edge_problem(
                j,
                MULTIPLE_EDGES,
                f"edge {_q(edge.id)}: input {_q(port.name)} of {_q(node.id)} takes one "
                "value and already has an edge; merge the values first",
                **where,
            )
        fed.add(key)
        if source_port is not None and not fits(source_port.type, port.type):
            self._edge_problem(
                j,
                TYPE_MISMATCH,
                f"edge {_q(edge.id)}: output {_q(source_port.name)} of {_q(edge.source)} is "
                f"{source_port.type}, which does not fit input {_q(port.name)} of "
                f"{_q(node.id)} ({port.type})",
                **where,
            )

    # -- graph ---------------------------------------------------------------------

    def _check_required_inputs(self, fed: set[tuple[int, str]]) -> None:
        for i, node in enumerate(self.flow.nodes):
            if self.first[node.id] != i:
                continue  # a duplicate is not in the graph; its id is reported already
            inputs = self._input_ports(i)
            for port in (inputs or {}).values():
                if port.required and not port.service and (i, port.name) not in fed:
                    self._node_problem(
                        i,
                        REQUIRED_INPUT,
                        f"node {_q(node.id)}: input {_q(port.name)} is required and has no edge",
                        field=f"inputs.{port.name}",
                    )

    def _check_cycles(self) -> None:
        for cycle in self.graph.cycles():
            shown = [_q(n) for n in cycle[:20]]
            if len(cycle) > 20:
                shown.append(f"… ({len(cycle)} nodes)")
            path = " -> ".join([*shown, _q(cycle[0])])
            self._node_problem(self.first[cycle[0]], CYCLE, f"data edges form a cycle: {path}")

    def _check_triggers(self) -> None:
        triggers = [
            node.id
            for node, cls in zip(self.flow.nodes, self.classes, strict=True)
            if cls is not None and cls.spec.trigger
        ]
        if not triggers:
            if self.require_trigger:
                self._flow_problem(
                    NO_TRIGGER,
                    "the flow has no trigger node, so nothing can start it; add one "
                    "(a manual, webhook or schedule trigger)",
                )
            return  # with no trigger, "unreachable" would only repeat that for every node
        reachable = self.graph.reachable_from(triggers)
        service_sources = {e.source for e in self.flow.edges if e.kind != "data"}
        for i, node in enumerate(self.flow.nodes):
            # A node of unknown type may itself be a trigger; it is reported already.
            if node.id in reachable or self.first[node.id] != i or self.classes[i] is None:
                continue
            # A service node (a tool, a memory, a model) is called by its agent, not run
            # in order: it has service edges out and no data edges at all.
            if (
                node.id in service_sources
                and not self.graph.incoming[node.id]
                and not self.graph.outgoing[node.id]
            ):
                continue
            self._node_problem(
                i,
                UNREACHABLE,
                f"node {_q(node.id)} is not reachable from any trigger, so it never runs",
                severity="warning",
            )
