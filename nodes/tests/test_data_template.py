"""data.template: the node renders its raw template once, through ``ctx.render``."""

from typing import Any

import pytest

from plait.node_runner.errors import NodeError
from plait.node_runner.expressions import render_template
from plait.node_runner.ports import X_RAW
from plait.nodes.data import Template


def engine_render(input_value: Any):
    """A ``ctx.render`` like the engine's: the node's expression names plus ``extra``."""

    def render(text: str, extra: dict[str, Any]) -> str:
        return render_template(text, {"inputs": {"input": input_value}, **extra})

    return render


async def test_renders_with_input_and_inputs(run_node):
    data = {"name": "Ada", "items": ["a", "b"]}

    out = await run_node(
        Template,
        {
            "template": "Hi {{ input.name }} / {{ inputs.input.name }}:"
            "{% for i in input['items'] %} {{ i }}{% endfor %}"
        },
        {"input": data},
        render=engine_render(data),
    )

    assert out.text == "Hi Ada / Ada: a b"


async def test_data_is_not_rendered_as_template_code(run_node):
    data = {"name": "{{ 7 * 7 }}"}

    out = await run_node(
        Template, {"template": "{{ input.name }}"}, {"input": data}, render=engine_render(data)
    )

    assert out.text == "{{ 7 * 7 }}"


def test_template_param_is_marked_raw_for_the_engine():
    schema = Template.Params.model_json_schema()

    assert schema["properties"]["template"][X_RAW] is True


async def test_a_failing_template_raises_an_expression_error(run_node):
    with pytest.raises(NodeError) as caught:
        await run_node(
            Template, {"template": "{{ input.missing }}"}, {"input": {}}, render=engine_render({})
        )

    assert caught.value.kind == "expression"
