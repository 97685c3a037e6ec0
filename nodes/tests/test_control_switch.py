"""control.switch: the first case that holds gets the input; else ``default``."""

import pytest
from pydantic import ValidationError

from plait.node_runner.expressions import CompiledParams
from plait.nodes.control import Switch

CASES = [
    {"name": "big", "condition": "{{ inputs.input.total > 1000 }}"},
    {"name": "medium", "condition": "{{ inputs.input.total > 100 }}"},
]


@pytest.mark.parametrize(("total", "port"), [(5000, "big"), (500, "medium"), (5, "default")])
async def test_first_holding_case_wins(run_node, total, port):
    order = {"total": total}
    params = CompiledParams({"cases": CASES}).render({"inputs": {"input": order}})

    out = await run_node(Switch, params, {"input": order})

    assert out == {port: order}


async def test_no_cases_goes_to_default(run_node):
    assert await run_node(Switch, {}, {"input": 1}) == {"default": 1}


@pytest.mark.parametrize(
    ("cases", "message"),
    [
        ([{"name": "", "condition": True}], "must be 1 to 64 letters"),
        ([{"name": "two words", "condition": True}], "must be 1 to 64 letters"),
        ([{"name": "default", "condition": True}], "reserved"),
        ([{"name": "error", "condition": True}], "reserved"),
        ([{"name": "a", "condition": 1}, {"name": "a", "condition": 0}], "two cases are named 'a'"),
        ([{"condition": True}], "name"),
    ],
)
def test_case_names_are_validated(cases, message):
    with pytest.raises(ValidationError, match=message):
        Switch.Params.model_validate({"cases": cases})


def test_dynamic_outputs_are_the_cases_then_default():
    ports = Switch.output_ports({"cases": CASES})

    assert [(p.name, p.type) for p in ports] == [
        ("big", "any"),
        ("medium", "any"),
        ("default", "any"),
    ]


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({}, ["default"]),
        ({"cases": "oops"}, ["default"]),
        (
            {"cases": [{"name": 3}, "x", {"name": "ok"}, {"name": "ok"}, {"name": "default"}]},
            ["ok", "default"],
        ),
        ({"cases": [{"name": "half typed"}, {"name": "a"}]}, ["a", "default"]),
    ],
)
def test_dynamic_outputs_tolerate_malformed_params(params, names):
    assert [p.name for p in Switch.dynamic_outputs(params)] == names
