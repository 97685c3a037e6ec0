"""data.set: build an object from values the engine has rendered."""

import pytest

from plait.node_runner.errors import NodeError
from plait.node_runner.expressions import CompiledParams
from plait.nodes.data import SetData


async def test_outputs_the_values(run_node):
    out = await run_node(SetData, {"values": {"a": 1, "b": [True, None], "c": {"d": "e"}}})

    assert out.output == {"a": 1, "b": [True, None], "c": {"d": "e"}}


async def test_expressions_rendered_by_the_engine_keep_their_types(run_node):
    person = {"first": "Ada", "last": "Lovelace", "age": 36}
    params = {
        "values": {
            "name": "{{ inputs.input.first }} {{ inputs.input.last }}",
            "adult": "{{ inputs.input.age >= 18 }}",
            "age_next_year": "{{ inputs.input.age + 1 }}",
        }
    }
    rendered = CompiledParams(params).render({"inputs": {"input": person}})

    out = await run_node(SetData, rendered, {"input": person})

    assert out.output == {"name": "Ada Lovelace", "adult": True, "age_next_year": 37}


async def test_without_include_input_the_input_is_left_out(run_node):
    out = await run_node(SetData, {"values": {"a": 1}}, {"input": {"b": 2}})

    assert out.output == {"a": 1}


async def test_include_input_sets_values_over_the_input(run_node):
    out = await run_node(
        SetData,
        {"values": {"status": "paid", "total": 10}, "include_input": True},
        {"input": {"id": 7, "status": "open"}},
    )

    assert out.output == {"id": 7, "status": "paid", "total": 10}


async def test_include_input_with_no_input_outputs_the_values(run_node):
    out = await run_node(SetData, {"values": {"a": 1}, "include_input": True})

    assert out.output == {"a": 1}


@pytest.mark.parametrize(("value", "described"), [([1], "an array"), ("x", "a string")])
async def test_include_input_needs_an_object(run_node, value, described):
    with pytest.raises(NodeError) as caught:
        await run_node(SetData, {"include_input": True}, {"input": value})

    assert caught.value.kind == "invalid_inputs"
    assert caught.value.message.endswith(f"got {described}")
