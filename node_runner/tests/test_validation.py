"""Flow validation and the flow graph: every problem code, located, all at once."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, JsonValue

import testnodes
from plait.node_runner.errors import FlowError
from plait.node_runner.flow import EdgeKind, Flow, FlowEdge
from plait.node_runner.graph import FlowGraph
from plait.node_runner.ports import Port
from plait.node_runner.registry import NodeRegistry
from plait.node_runner.sdk import MultiEdge, Node, NodeSpec, RawTemplate, RunContext
from plait.node_runner.validation import Problem, has_errors, validate

# -- node types only these tests need (their own namespace, so testnodes may grow freely) --


class Switch(Node):
    """One output port per case (ports chosen by params), plus ``default``."""

    spec = NodeSpec(type="vtest.switch", version=1, title="Switch", category="test")

    class Params(BaseModel):
        cases: list[str] = []

    class Inputs(BaseModel):
        input: JsonValue = None

    @classmethod
    def dynamic_outputs(cls, params: Mapping[str, Any]) -> list[Port] | None:
        cases = params.get("cases", [])
        return [Port(name=str(c), type="any") for c in cases] + [Port(name="default", type="any")]

    async def run(self, inputs: Any, ctx: RunContext) -> Any:
        return {"default": inputs.input}


class BrokenPorts(Node):
    """Its dynamic ports raise: a bug in node code must not stop validation."""

    spec = NodeSpec(type="vtest.broken_ports", version=1, title="Broken", category="test")

    @classmethod
    def dynamic_outputs(cls, params: Mapping[str, Any]) -> list[Port] | None:
        raise RuntimeError("cannot work out ports")


class Template(Node):
    """Renders its own template (a RawTemplate param)."""

    spec = NodeSpec(type="vtest.template", version=1, title="Template", category="test")

    class Params(BaseModel):
        template: str = RawTemplate(default="")

    class Inputs(BaseModel):
        input: JsonValue = None

    class Outputs(BaseModel):
        text: str


class Loose(Node):
    """Params that allow extra keys."""

    spec = NodeSpec(type="vtest.loose", version=1, title="Loose", category="test")

    class Params(BaseModel):
        model_config = ConfigDict(extra="allow")

        known: int = 0

    class Inputs(BaseModel):
        input: JsonValue = None


class Options(BaseModel):
    retries: int = 0


class Request(Node):
    """Nested, required and union params."""

    spec = NodeSpec(type="vtest.request", version=1, title="Request", category="test")

    class Params(BaseModel):
        url: str
        timeout_s: float = 30
        options: Options = Options()
        status: int | str | None = None

    class Inputs(BaseModel):
        input: JsonValue = None

    class Outputs(BaseModel):
        body: JsonValue = None


class Numbers(Node):
    """A multi-edge input of integers."""

    spec = NodeSpec(type="vtest.numbers", version=1, title="Numbers", category="test")

    class Inputs(BaseModel):
        values: list[int] = MultiEdge()

    class Outputs(BaseModel):
        total: int


REGISTRY = NodeRegistry([*testnodes.ALL, Switch, BrokenPorts, Template, Loose, Request, Numbers])


# -- helpers ---------------------------------------------------------------------------


def node(node_id: str, type_: str = "test.echo", **fields: Any) -> dict[str, Any]:
    return {"id": node_id, "type": type_, **fields}


def edge(
    edge_id: str,
    source: str,
    target: str,
    source_port: str = "output",
    target_port: str = "input",
    **fields: Any,
) -> dict[str, Any]:
    return {
        "id": edge_id,
        "source": source,
        "source_port": source_port,
        "target": target,
        "target_port": target_port,
        **fields,
    }


START = node("start", "test.start")


def doc(*nodes: dict[str, Any], edges: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    """A flow document that starts with the trigger ``start``."""
    return {"name": "test", "nodes": [START, *nodes], "edges": list(edges)}


def check(document: Mapping[str, Any] | Flow, **kwargs: Any) -> list[Problem]:
    return validate(document, REGISTRY, **kwargs)


def one(problems: list[Problem], code: str) -> Problem:
    """The one problem with ``code``; fails, listing them all, when there is not exactly one."""
    found = [p for p in problems if p.code == code]
    assert len(found) == 1, problems
    return found[0]


def codes(problems: list[Problem]) -> list[str]:
    return [p.code for p in problems]


def fed(target: str, source: str = "start", edge_id: str | None = None) -> dict[str, Any]:
    """A data edge from the trigger's payload into ``target``'s input."""
    return edge(edge_id or f"to_{target}", source, target, source_port="payload")


# -- a valid flow ------------------------------------------------------------------------


def test_a_valid_flow_has_no_problems() -> None:
    document = doc(
        node("a", params={"value": "{{ inputs.input }}"}),
        node("b", params={"value": "{{ nodes.a.output }} and {{ nodes['start'].payload }}"}),
        node("sw", "vtest.switch", params={"cases": ["yes", "no"]}),
        node("c", "test.collect"),
        node("tool", "test.echo"),
        node("agent", "test.agent"),
        edges=(
            fed("a"),
            edge("ab", "a", "b"),
            edge("b_sw", "b", "sw"),
            edge("yes_c", "sw", "c", source_port="yes", target_port="items"),
            edge("no_c", "sw", "c", source_port="no", target_port="items"),
            edge("c_agent", "c", "agent", source_port="items"),
            edge("tool_agent", "tool", "agent", target_port="tools", kind="tool"),
        ),
    )
    assert check(document) == []
    assert check(Flow.model_validate(document)) == []
    assert not has_errors([])


def test_has_errors_ignores_warnings() -> None:
    warning = Problem(code="unreachable", message="m", severity="warning")
    error = Problem(code="cycle", message="m")
    assert not has_errors([warning])
    assert has_errors([warning, error])


# -- the document ----------------------------------------------------------------------


def test_invalid_document_is_located_and_never_raises() -> None:
    document = doc(node("a", bogus=1), edges=(edge("e1", "start", "a", kind="pipe"),))
    problems = check(document)
    assert codes(problems) == ["invalid_document", "invalid_document"]
    first, second = problems
    assert (first.node_id, first.edge_id, first.field) == ("a", None, "nodes.1.bogus")
    assert (second.node_id, second.edge_id, second.field) == (None, "e1", "edges.0.kind")
    assert first.severity == "error"
    assert first.message.startswith("nodes.1.bogus: ")


@pytest.mark.parametrize("document", [[], "flow", None, 3])
def test_a_document_that_is_not_an_object(document: Any) -> None:
    (problem,) = check(document)
    assert problem.code == "invalid_document"
    assert problem.field is None
    assert "JSON object" in problem.message


def test_invalid_document_without_an_id_to_name() -> None:
    problems = check({"name": "x", "nodes": [{"type": "test.echo"}, 7]})
    assert [(p.code, p.node_id, p.field) for p in problems] == [
        ("invalid_document", None, "nodes.0.id"),
        ("invalid_document", None, "nodes.1"),
    ]


def test_wrong_schema_version_is_located() -> None:
    (problem,) = check({"schema_version": 2, "name": "x"})
    assert (problem.code, problem.field) == ("invalid_document", "schema_version")
    assert "schema_version 2" in problem.message


def test_non_finite_numbers_in_a_flow_built_in_python() -> None:
    document = doc(node("a", position={"x": math.inf}, meta={"w": [math.nan]}), edges=(fed("a"),))
    document["meta"] = {"zoom": math.nan}
    problems = check(document)
    assert [(p.code, p.node_id, p.field) for p in problems] == [
        ("invalid_document", None, "meta.zoom"),
        ("invalid_document", "a", "nodes.1.position.x"),
        ("invalid_document", "a", "nodes.1.meta.w.0"),
    ]


# -- nodes -------------------------------------------------------------------------------


def test_duplicate_node_ids_report_each_duplicate_after_the_first() -> None:
    document = doc(node("a"), node("a"), node("a"), edges=(fed("a"),))
    problems = [p for p in check(document) if p.code == "duplicate_id"]
    assert [(p.node_id, p.field, p.severity) for p in problems] == [("a", "id", "error")] * 2
    assert "position 1" in problems[0].message


def test_duplicate_edge_ids() -> None:
    document = doc(
        node("a", "test.collect"),
        edges=(
            edge("e", "start", "a", "payload", "items"),
            edge("e", "start", "a", "payload", "items"),
        ),
    )
    problem = one(check(document), "duplicate_id")
    assert (problem.edge_id, problem.node_id, problem.field) == ("e", None, "id")


def test_unknown_node_type() -> None:
    problem = one(check(doc(node("a", "nope.missing"), edges=(fed("a"),))), "unknown_node_type")
    assert (problem.node_id, problem.field, problem.severity) == ("a", "type", "error")
    assert "'nope.missing'" in problem.message


def test_unknown_version_names_the_installed_versions() -> None:
    document = doc(node("a", "test.echo", version=2), edges=(fed("a"),))
    problem = one(check(document), "unknown_node_type")
    assert (problem.node_id, problem.field) == ("a", "version")
    assert "no version 2" in problem.message
    assert "installed versions: 1" in problem.message


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"amount": "many"}, "params.amount"),
        ({"amount": 1.5}, "params.amount"),
        ({"amount": 1, "bogus": True}, "params.bogus"),
    ],
)
def test_invalid_params(params: dict[str, Any], field: str) -> None:
    document = doc(node("a", "test.add", params=params), edges=(fed("a"),))
    problem = one(check(document), "invalid_params")
    assert (problem.node_id, problem.field, problem.severity) == ("a", field, "error")


def test_invalid_params_paths_are_places_in_the_document() -> None:
    params = {"options": {"retries": "x"}, "status": [1]}
    problems = check(doc(node("r", "vtest.request", params=params), edges=(fed("r"),)))
    found = [(p.code, p.node_id, p.field) for p in problems]
    # A missing field, a nested one, and a union reported once (not once per member).
    assert found == [
        ("invalid_params", "r", "params.url"),
        ("invalid_params", "r", "params.options.retries"),
        ("invalid_params", "r", "params.status"),
    ]
    assert "valid integer" in problems[2].message and "valid string" in problems[2].message


def test_params_holding_expressions_are_checked_at_run_time() -> None:
    params = {
        "url": "{{ inputs.input.url }}",
        "timeout_s": "{{ inputs.input.t }}",
        "options": {"retries": "{{ inputs.input.n }}"},
        "status": "{{ 200 }}",
    }
    document = doc(node("r", "vtest.request", params=params), edges=(fed("r"),))
    assert check(document) == []
    document = doc(node("r", "vtest.request", params={"url": "u", "options": "{{ x }}"}))
    assert "invalid_params" not in codes(check(document))


def test_unknown_params_are_allowed_when_the_model_allows_extras() -> None:
    document = doc(node("a", "vtest.loose", params={"known": 1, "other": 2}), edges=(fed("a"),))
    assert check(document) == []


def test_params_without_a_params_model_must_be_empty() -> None:
    document = doc(node("a", "test.sync_echo", params={"x": 1}), edges=(fed("a"),))
    problem = one(check(document), "invalid_params")
    assert (problem.node_id, problem.field) == ("a", "params.x")


def test_params_must_be_finite() -> None:
    document = doc(node("a", params={"value": {"n": [1, math.nan]}}), edges=(fed("a"),))
    problem = one(check(document), "invalid_params")
    assert (problem.node_id, problem.field) == ("a", "params.value.n.1")


def test_join_param_and_join_must_agree() -> None:
    wire = (edge("e", "start", "m", "payload", "inputs"),)
    disagree = node("m", "test.mode", params={"mode": "any"}, join="all")
    problem = one(check(doc(disagree, edges=wire)), "invalid_params")
    assert (problem.node_id, problem.field) == ("m", "join")
    agree = node("m", "test.mode", params={"mode": "any"}, join="any")
    assert check(doc(agree, edges=wire)) == []
    only_join = node("m", "test.mode", join="first")
    assert check(doc(only_join, edges=wire)) == []


def test_join_param_cannot_be_an_expression() -> None:
    dynamic = node("m", "test.mode", params={"mode": "{{ inputs.x }}"})
    wire = (edge("e", "start", "m", "payload", "inputs"),)
    problem = one(check(doc(dynamic, edges=wire)), "invalid_params")
    assert (problem.node_id, problem.field) == ("m", "params.mode")


def test_a_join_on_a_node_with_one_edge_is_fine() -> None:
    document = doc(node("a", join="first"), edges=(fed("a"),))
    assert check(document) == []


# -- expressions ---------------------------------------------------------------------------


def test_bad_expression() -> None:
    params = {"value": {"list": ["fine", "{{ inputs. }}"]}}
    problem = one(check(doc(node("a", params=params), edges=(fed("a"),))), "bad_expression")
    assert (problem.node_id, problem.field, problem.severity) == (
        "a",
        "params.value.list.1",
        "error",
    )


def test_bad_expression_in_a_raw_template_field() -> None:
    document = doc(node("t", "vtest.template", params={"template": "{% if %}"}), edges=(fed("t"),))
    problem = one(check(document), "bad_expression")
    assert (problem.node_id, problem.field) == ("t", "params.template")


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("{{ nodes.ghost.output }}", "'ghost'"),
        ("{{ nodes['b'].output }}", "'b'"),  # a sibling, not upstream
        ("x {{ nodes.a.output }}", "own outputs"),
    ],
)
def test_bad_reference(text: str, named: str) -> None:
    document = doc(
        node("a", params={"value": text}),
        node("b"),
        edges=(fed("a"), fed("b")),
    )
    problem = one(check(document), "bad_reference")
    assert (problem.node_id, problem.field, problem.severity) == ("a", "params.value", "error")
    assert named in problem.message


def test_references_follow_data_edges_only() -> None:
    # ``tool`` reaches ``agent`` by a service edge: that is not an order, so not upstream.
    document = doc(
        node("tool"),
        node("agent", "test.agent"),
        node("after", params={"value": "{{ nodes.tool.output }}{{ nodes.agent.results }}"}),
        edges=(
            fed("agent"),
            edge("svc", "tool", "agent", target_port="tools", kind="tool"),
            edge("next", "agent", "after", source_port="results"),
        ),
    )
    problem = one(check(document), "bad_reference")
    assert problem.node_id == "after"
    assert "'tool'" in problem.message


def test_dynamic_reference_is_a_warning() -> None:
    document = doc(node("a", params={"value": "{{ nodes[inputs.input] }}"}), edges=(fed("a"),))
    problem = one(check(document), "dynamic_reference")
    assert (problem.node_id, problem.field, problem.severity) == ("a", "params.value", "warning")
    assert not has_errors(check(document))


# -- edges ---------------------------------------------------------------------------------


def test_missing_node() -> None:
    document = doc(node("a"), edges=(fed("a"), edge("e", "ghost", "a"), edge("f", "a", "void")))
    problems = [p for p in check(document) if p.code == "missing_node"]
    assert [(p.edge_id, p.node_id, p.field) for p in problems] == [
        ("e", None, "source"),
        ("f", None, "target"),
    ]
    assert "'ghost'" in problems[0].message


def test_missing_ports() -> None:
    document = doc(
        node("a"),
        node("b"),
        edges=(fed("a"), edge("bad_out", "a", "b", source_port="nope"), fed("b", edge_id="x")),
    )
    problem = one(check(document), "missing_port")
    assert (problem.edge_id, problem.node_id, problem.field) == ("bad_out", "a", "source_port")
    document = doc(node("a"), edges=(edge("bad_in", "start", "a", "payload", "nope"),))
    problem = one(check(document), "missing_port")
    assert (problem.edge_id, problem.node_id, problem.field) == ("bad_in", "a", "target_port")
    assert "'input'" in problem.message  # the ports that do exist


def test_an_edge_into_a_trigger() -> None:
    document = doc(node("a"), edges=(fed("a"), edge("back", "a", "start", target_port="payload")))
    problem = one(check(document), "missing_port")
    assert (problem.edge_id, problem.node_id, problem.field) == ("back", "start", "target_port")
    assert "trigger" in problem.message


def test_error_port_needs_on_error_error_port() -> None:
    wire = (fed("a"), edge("err", "a", "b", source_port="error"))
    problem = one(check(doc(node("a"), node("b"), edges=wire)), "missing_port")
    assert (problem.edge_id, problem.node_id, problem.field) == ("err", "a", "source_port")
    assert "error_port" in problem.message
    routed = node("a", on_error="error_port")
    wire = (fed("a"), edge("err", "a", "b", source_port="error", target_port="items"))
    assert check(doc(routed, node("b", "test.collect"), edges=wire)) == []


def test_ports_chosen_by_params() -> None:
    switch = node("sw", "vtest.switch", params={"cases": ["yes"]})
    ok = doc(switch, node("a"), edges=(fed("sw"), edge("y", "sw", "a", source_port="yes")))
    assert check(ok) == []
    bad = doc(switch, node("a"), edges=(fed("sw"), edge("n", "sw", "a", source_port="no")))
    problem = one(check(bad), "missing_port")
    assert (problem.edge_id, problem.field) == ("n", "source_port")


def test_node_code_that_cannot_give_its_ports() -> None:
    document = doc(
        node("b", "vtest.broken_ports"), node("a"), edges=(fed("b"), edge("e", "b", "a"))
    )
    problem = one(check(document), "invalid_params")
    assert (problem.node_id, problem.field) == ("b", "params")
    assert "cannot work out ports" in problem.message


def test_type_mismatch() -> None:
    document = doc(
        node("t", "test.text"),
        node("n", "test.add"),
        edges=(fed("t"), edge("e", "t", "n", source_port="text", target_port="n")),
    )
    problem = one(check(document), "type_mismatch")
    assert (problem.edge_id, problem.node_id, problem.field, problem.severity) == (
        "e",
        "n",
        "target_port",
        "error",
    )
    assert "string" in problem.message and "integer" in problem.message


def test_multi_edge_inputs_compare_item_types() -> None:
    document = doc(
        node("add", "test.add"),
        node("t", "test.text"),
        node("sum", "vtest.numbers"),
        edges=(
            edge("p", "start", "add", "payload", "n"),
            fed("t"),
            edge("good", "add", "sum", "n", "values"),
            edge("bad", "t", "sum", "text", "values"),
        ),
    )
    problem = one(check(document), "type_mismatch")
    assert problem.edge_id == "bad"


def test_multiple_edges_into_a_single_valued_input() -> None:
    document = doc(node("a"), edges=(fed("a", edge_id="one"), fed("a", edge_id="two")))
    problem = one(check(document), "multiple_edges")
    assert (problem.edge_id, problem.node_id, problem.field) == ("two", "a", "target_port")
    many = doc(
        node("c", "test.collect"),
        edges=(
            edge("one", "start", "c", "payload", "items"),
            edge("two", "start", "c", "payload", "items"),
        ),
    )
    assert check(many) == []


def test_required_input() -> None:
    problem = one(check(doc(node("n", "test.add"))), "required_input")
    assert (problem.node_id, problem.edge_id, problem.field) == ("n", None, "inputs.n")
    assert problem.severity == "error"


# -- service edges ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "target_port", "code"),
    [
        ("memory", "tools", "type_mismatch"),  # a service port of another kind
        ("tool", "input", "type_mismatch"),  # a data input
        ("data", "tools", "type_mismatch"),  # a data edge cannot end on a service port
        ("tool", "nope", "missing_port"),
    ],
)
def test_service_edges_end_on_service_ports_of_their_kind(
    kind: str, target_port: str, code: str
) -> None:
    document = doc(
        node("tool"),
        node("agent", "test.agent"),
        edges=(
            fed("agent"),
            edge("svc", "tool", "agent", target_port=target_port, kind=kind),
        ),
    )
    problems = [p for p in check(document) if p.severity == "error"]
    assert [(p.code, p.edge_id, p.node_id, p.field) for p in problems] == [
        (code, "svc", "agent", "target_port")
    ]


def test_service_edges_are_not_data_dependencies() -> None:
    # agent -> echo by data, echo -> agent as its tool: not a cycle.
    document = doc(
        node("agent", "test.agent"),
        node("echo"),
        edges=(
            fed("agent"),
            edge("d", "agent", "echo", source_port="results"),
            edge("svc", "echo", "agent", target_port="tools", kind="tool"),
        ),
    )
    assert check(document) == []


# -- graph-wide ------------------------------------------------------------------------------


def test_cycle() -> None:
    document = doc(
        node("a"),
        node("b", "test.collect"),
        node("c"),
        edges=(
            edge("sa", "start", "b", "payload", "items"),
            edge("ab", "a", "b", target_port="items"),
            edge("bc", "b", "c", source_port="items"),
            edge("ca", "c", "a"),
        ),
    )
    problem = one(check(document), "cycle")
    assert (problem.node_id, problem.edge_id, problem.field, problem.severity) == (
        "a",
        None,
        None,
        "error",
    )
    assert "'a' -> 'b' -> 'c' -> 'a'" in problem.message


def test_self_loop_is_a_cycle() -> None:
    document = doc(node("a", "test.collect"), edges=(edge("loop", "a", "a", "items", "items"),))
    problem = one(check(document), "cycle")
    assert problem.node_id == "a"
    assert "'a' -> 'a'" in problem.message


def test_no_trigger() -> None:
    document = {"name": "x", "nodes": [node("a")], "edges": []}
    problem = one(check(document), "no_trigger")
    assert (problem.node_id, problem.edge_id, problem.field, problem.severity) == (
        None,
        None,
        None,
        "error",
    )
    assert check(document, require_trigger=False) == []


def test_unreachable_is_a_warning() -> None:
    problem = one(check(doc(node("island"))), "unreachable")
    assert (problem.node_id, problem.severity) == ("island", "warning")
    assert not has_errors(check(doc(node("island"))))


def test_service_nodes_are_not_unreachable() -> None:
    document = doc(
        node("agent", "test.agent"),
        node("tool"),
        node("loner"),
        edges=(fed("agent"), edge("svc", "tool", "agent", target_port="tools", kind="tool")),
    )
    problem = one(check(document), "unreachable")
    assert problem.node_id == "loner"


# -- all at once, in order -----------------------------------------------------------------


def broken_flow() -> dict[str, Any]:
    return {
        "name": "broken",
        "nodes": [
            node("a", "nope.missing"),
            node("b", "test.add", params={"amount": "x", "value": 1}),
            node("b"),
            node("c", params={"value": "{{ nodes.zz }} {{ oops( }}"}),
            node("d", params={"value": "{{ nodes.zz.x }}"}),
            node("t", "test.text"),
            node("n", "test.add"),
            node("cy1", "test.collect"),
            node("cy2"),
        ],
        "edges": [
            edge("e1", "ghost", "c"),
            edge("e2", "c", "d", source_port="nah"),
            edge("e3", "t", "n", source_port="text", target_port="n"),
            edge("e3", "t", "c", source_port="text"),
            edge("e5", "t", "c", source_port="text"),
            edge("e6", "cy1", "cy2", source_port="items"),
            edge("e7", "cy2", "cy1", target_port="items"),
        ],
    }


def test_all_problems_are_reported_at_once() -> None:
    problems = check(broken_flow())
    assert set(codes(problems)) == {
        "no_trigger",
        "unknown_node_type",
        "invalid_params",
        "duplicate_id",
        "bad_expression",
        "bad_reference",
        "missing_node",
        "missing_port",
        "type_mismatch",
        "multiple_edges",
        "required_input",
        "cycle",
    }
    assert len(problems) == 15


def test_problems_come_in_document_order() -> None:
    first = check(broken_flow())
    assert first == check(broken_flow())  # the same every time
    found = [(p.code, p.node_id, p.edge_id) for p in first]
    assert found == [
        ("no_trigger", None, None),
        ("unknown_node_type", "a", None),
        ("invalid_params", "b", None),  # unknown key "value"
        ("invalid_params", "b", None),  # amount "x"
        ("required_input", "b", None),
        ("duplicate_id", "b", None),  # the second "b" comes after the first
        ("bad_expression", "c", None),
        ("bad_reference", "d", None),
        ("cycle", "cy1", None),
        ("missing_node", None, "e1"),
        ("missing_port", "c", "e2"),
        ("type_mismatch", "n", "e3"),
        ("duplicate_id", None, "e3"),
        # e1 comes from no node, but it still takes c's one input: it is reported once,
        # as broken, and otherwise counts as there.
        ("multiple_edges", "c", "e3"),
        ("multiple_edges", "c", "e5"),
    ]


HOSTILE = [
    "line\nbreak",
    "quote'\"",
    "{{ nodes.x }}",
    "{% raw %}",
    "nodes.a",
    "💥 ünïcode",
    "\x00\x1b[31m",
    "a" * 200,
    " ",
    "../../etc/passwd",
    "__class__",
]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_ids_do_not_crash_it(hostile: str) -> None:
    document = {
        "name": hostile,
        "nodes": [
            node(hostile, "test.start"),
            node(hostile, hostile),
            node("x", params={hostile: hostile, "value": f"{{{{ nodes[{hostile!r}] }}}}"}),
        ],
        "edges": [
            edge(hostile, hostile, "x", source_port=hostile, target_port=hostile),
            edge(hostile, "x", hostile, target_port=hostile, kind="tool"),
        ],
    }
    problems = check(document)
    assert problems
    assert {"duplicate_id", "unknown_node_type", "missing_port"} <= set(codes(problems))
    for problem in problems:
        assert "\n" not in problem.message


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
# Few ids and ports, so that generated edges often meet real nodes and ports.
_ids = st.sampled_from(["a", "b", "c", "start", "nodes", "x.y", "\n"])
_ports = st.sampled_from(["input", "output", "payload", "items", "n", "text", "tools", "error"])
_types = st.sampled_from(sorted({cls.spec.type for cls in REGISTRY} | {"nope.x"}))
_expressions = st.sampled_from(
    ["{{ inputs.input }}", "{{ nodes.a.output }}", "{{ nodes[x] }}", "{{ ( }}", "{% for %}"]
)
_documents = st.fixed_dictionaries(
    {
        "name": st.just("generated"),
        "nodes": st.lists(
            st.fixed_dictionaries(
                {"id": _ids, "type": _types},
                optional={
                    "params": st.dictionaries(
                        st.sampled_from(["value", "amount", "mode", "cases", "url", "zz"]),
                        _json | _expressions,
                        max_size=3,
                    ),
                    "on_error": st.sampled_from(["stop", "error_port"]),
                    "join": st.sampled_from(["all", "any", "first"]),
                },
            ),
            max_size=6,
        ),
        "edges": st.lists(
            st.fixed_dictionaries(
                {
                    "id": _ids,
                    "source": _ids,
                    "source_port": _ports,
                    "target": _ids,
                    "target_port": _ports,
                },
                optional={"kind": st.sampled_from(["data", "tool", "memory", "model"])},
            ),
            max_size=8,
        ),
    }
)


@settings(max_examples=300, deadline=None)
@given(_documents | _json)
def test_any_document_gives_problems_never_an_exception(document: Any) -> None:
    problems = check(document)
    assert all(isinstance(p, Problem) for p in problems)
    assert check(document) == problems


def test_a_5000_node_chain_validates() -> None:
    nodes = [START]
    edges = []
    previous, port = "start", "payload"
    for i in range(5000):
        params = {"value": "{{ inputs.input }}"} if i % 3 == 0 else {}
        if i % 500 == 499:
            params = {"value": "{{ nodes.start.payload }}"}
        nodes.append(node(f"n{i}", params=params))
        edges.append(edge(f"e{i}", previous, f"n{i}", source_port=port))
        previous, port = f"n{i}", "output"
    assert check({"name": "chain", "nodes": nodes, "edges": edges}) == []
    edges.append(edge("back", "n4999", "n0"))
    problems = check({"name": "chain", "nodes": nodes, "edges": edges})
    assert codes(problems) == ["multiple_edges", "cycle"] or codes(problems) == [
        "cycle",
        "multiple_edges",
    ]
    assert len(one(problems, "cycle").message) < 1000


# -- the graph ---------------------------------------------------------------------------------


def graph_of(*pairs: tuple[str, str], nodes: str = "abcde", kind: EdgeKind = "data") -> FlowGraph:
    edges = [
        FlowEdge(id=f"{s}{t}{i}", source=s, source_port="o", target=t, target_port="i", kind=kind)
        for i, (s, t) in enumerate(pairs)
    ]
    return FlowGraph(list(nodes), edges)


def test_graph_topological_order_is_stable() -> None:
    graph = graph_of(("c", "a"), ("e", "b"))
    # Ready nodes go in document order: c and d and e are ready first.
    assert graph.topological_order() == ["c", "a", "d", "e", "b"]
    assert FlowGraph(list("edcba"), []).topological_order() == list("edcba")


def test_graph_ancestry() -> None:
    graph = graph_of(("a", "b"), ("b", "c"), ("a", "d"), ("d", "c"))
    assert graph.ancestors("c") == {"a", "b", "d"}
    assert graph.ancestors("a") == frozenset()
    assert graph.is_ancestor("a", "c")
    assert not graph.is_ancestor("c", "a")
    assert not graph.is_ancestor("b", "d")
    assert not graph.is_ancestor("c", "c")
    assert graph.reachable_from(["b", "missing"]) == {"b", "c"}
    with pytest.raises(KeyError):
        graph.ancestors("missing")


def test_graph_incoming_and_outgoing_keep_document_order() -> None:
    graph = graph_of(("a", "c"), ("b", "c"), ("a", "c"), ("a", "zz"))
    assert [e.id for e in graph.incoming["c"]] == ["ac0", "bc1", "ac2"]
    assert [e.id for e in graph.outgoing["a"]] == ["ac0", "ac2"]  # the edge to zz is ignored
    assert graph.incoming["a"] == ()


def test_graph_keeps_service_edges_apart() -> None:
    graph = graph_of(("a", "b"), kind="tool")
    assert graph.incoming["b"] == ()
    assert [e.id for e in graph.service_incoming["b"]] == ["ab0"]
    assert not graph.is_ancestor("a", "b")


def test_graph_cycles() -> None:
    graph = graph_of(("b", "c"), ("c", "d"), ("d", "b"), ("e", "e"), ("a", "b"))
    assert graph.cycles() == [["b", "c", "d"], ["e"]]
    assert not graph.is_acyclic()
    # On a cycle a node is its own ancestor; what is upstream of the cycle is too.
    assert graph.ancestors("c") == {"a", "b", "c", "d"}
    assert graph.ancestors("e") == {"e"}
    assert graph.ancestors("a") == frozenset()
    with pytest.raises(FlowError, match="cycle"):
        graph.topological_order()


def test_graph_cycle_starts_at_its_first_node_and_is_shortest() -> None:
    graph = graph_of(("a", "b"), ("b", "c"), ("c", "a"), ("b", "a"))
    assert graph.cycles() == [["a", "b"]]
