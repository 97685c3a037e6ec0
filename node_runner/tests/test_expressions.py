"""Sandboxed expressions: typing, references, limits and escapes."""

from __future__ import annotations

import pytest

from plait.node_runner.errors import NodeError
from plait.node_runner.expressions import (
    CompiledParams,
    Expression,
    node_references,
    parse_problem,
    render_template,
    single_expression,
)


def test_a_lone_expression_keeps_its_type() -> None:
    names = {"inputs": {"n": 3, "items": [1, 2]}}
    assert Expression("{{ inputs.n }}").evaluate(names) == 3
    assert Expression("  {{ inputs.items }} ").evaluate(names) == [1, 2]
    assert Expression("{{ inputs.n > 2 }}").evaluate(names) is True
    assert Expression("n={{ inputs.n }}").evaluate(names) == "n=3"
    assert Expression("{{ inputs.n }}{{ inputs.n }}").evaluate(names) == "33"
    assert single_expression("{{ a }} and {{ b }}") is None


def test_missing_names_fail_clearly_and_default_works() -> None:
    with pytest.raises(NodeError) as info:
        Expression("{{ inputs.nope.x }}").evaluate({"inputs": {}})
    assert info.value.kind == "expression" and "nope" in info.value.message
    assert Expression("{{ inputs.nope | default('d') }}").evaluate({"inputs": {}}) == "d"


@pytest.mark.parametrize(
    "text",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ inputs.__class__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ 'a' * 10**9 }}",
        "{{ 2 ** 100000 }}",
        "{{ [1] * 10**8 }}",
        "{% for i in range(10**9) %}x{% endfor %}",
        "{{ inputs.update({'x': 1}) }}",
        "{{ lipsum.__globals__ }}",
    ],
)
def test_sandbox_escapes_and_resource_bombs_become_expression_errors(text: str) -> None:
    with pytest.raises(NodeError) as info:
        Expression(text).evaluate({"inputs": {}})
    assert info.value.kind == "expression"


def test_rendered_output_is_capped() -> None:
    with pytest.raises(NodeError, match="characters"):
        render_template("{% for i in range(20) %}{{ 'x' * 999999 }}{% endfor %}", {})


def test_parse_problems_are_reported() -> None:
    assert parse_problem("{{ inputs.n }}") is None
    assert parse_problem("{{ inputs.n ") is not None
    assert parse_problem("{% if %}") is not None
    assert parse_problem("plain text") is None


def test_node_references_are_found_statically() -> None:
    assert node_references("{{ nodes.a.x }} {{ nodes['b-c'].y }}") == {"a", "b-c"}
    assert node_references("{{ inputs.x }}") == frozenset()
    assert node_references("{% for n in nodes %}{% endfor %}") is None
    assert node_references("{{ nodes[inputs.k] }}") is None


def test_compiled_params_render_only_expressions_and_leave_the_source_alone() -> None:
    params = {
        "a": "{{ inputs.n + 1 }}",
        "b": ["x", {"c": "{{ inputs.n }}!"}],
        "raw": "{{ keep }}",
        "n": 4,
    }
    compiled = CompiledParams(params, frozenset({"raw"}))
    out = compiled.render({"inputs": {"n": 1}})
    assert out == {"a": 2, "b": ["x", {"c": "1!"}], "raw": "{{ keep }}", "n": 4}
    assert params["a"] == "{{ inputs.n + 1 }}"
    static = CompiledParams({"x": 1})
    assert not static.has_expressions and static.render({}) is static.static


@pytest.mark.parametrize(
    "text",
    [
        '{{ "x"|center(10**8) | length }}',
        '{{ "x".ljust(10**8) | length }}',
        '{{ "x".zfill(10**8) }}',
        '{{ "{:>100000000}".format("x") }}',
        '{{ "%100000000s" % "x" }}',
        '{{ "%*s" % (10**8, "x") }}',
        '{{ "%100000000s"|format("x") }}',
        '{{ ("x" * 1000).replace("", "y" * 1000) }}',
        '{{ "x"|indent(10**8) }}',
        "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}",
    ],
)
def test_size_and_loop_bombs_are_refused(text: str) -> None:
    with pytest.raises(NodeError) as info:
        Expression(text).evaluate({"inputs": {}})
    assert info.value.kind == "expression"


def test_ordinary_formatting_still_works() -> None:
    names = {"inputs": {"n": 7, "name": "ada"}}
    assert Expression('{{ "%05d" % inputs.n }}').evaluate(names) == "00007"
    assert Expression('{{ "{:>6}".format(inputs.name) }}').evaluate(names) == "   ada"
    assert Expression("{{ inputs.name.center(7, '*') }}").evaluate(names) == "**ada**"
    assert Expression("{{ inputs.name|replace('a', 'A') }}").evaluate(names) == "AdA"
    assert Expression("{% for i in range(3) %}{{ i }}{% endfor %}").evaluate(names) == "012"
    assert Expression("{{ '%s-%s'|format(1, 2) }}").evaluate(names) == "1-2"


def test_nested_format_width_is_capped() -> None:
    with pytest.raises(NodeError):
        Expression('{{ "{:{}}".format("x", 10**8) }}').evaluate({})
    assert Expression('{{ "{:{}}".format("x", 3) }}').evaluate({}) == "x  "
