"""control.if: the input comes out on exactly one of ``true`` and ``false``."""

import pytest

from plait.node_runner.expressions import CompiledParams
from plait.nodes.control import If, truthy


@pytest.mark.parametrize(
    "value", [True, 1, -1, 0.5, "yes", "no", "False!", " x ", [0], {"a": None}]
)
def test_truthy_values(value):
    assert truthy(value)


@pytest.mark.parametrize(
    "value",
    [None, False, 0, 0.0, "", "  ", "false", "FALSE", " False ", "0", "None", "null", [], {}],
)
def test_falsy_values(value):
    assert not truthy(value)


async def test_true_condition_sets_only_true(run_node):
    out = await run_node(If, {"condition": True}, {"input": {"id": 1}})

    assert out.model_fields_set == {"true"}
    assert out.true == {"id": 1}


async def test_false_condition_sets_only_false(run_node):
    out = await run_node(If, {"condition": "false"}, {"input": {"id": 1}})

    assert out.model_fields_set == {"false"}
    assert out.false == {"id": 1}


async def test_a_null_input_still_takes_a_branch(run_node):
    out = await run_node(If, {"condition": 0})

    assert out.model_fields_set == {"false"}


@pytest.mark.parametrize(("age", "port"), [(36, "true"), (12, "false")])
async def test_condition_expression_rendered_by_the_engine(run_node, age, port):
    person = {"age": age}
    params = CompiledParams({"condition": "{{ inputs.input.age >= 18 }}"}).render(
        {"inputs": {"input": person}}
    )

    out = await run_node(If, params, {"input": person})

    assert out.model_fields_set == {port}
