"""Data nodes: build and reshape values."""

from __future__ import annotations

from pydantic import BaseModel, Field, JsonValue

from plait.node_runner.errors import KIND_INVALID_INPUTS, NodeError
from plait.node_runner.sdk import Node, NodeSpec, RawTemplate, RunContext

# Names of the non-object JSON types, for error messages.
_JSON_TYPES = {
    list: "an array",
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
}


class SetData(Node):
    """Build an object from fixed values and expressions.

    Each entry of ``values`` is a JSON value or a ``{{ … }}`` expression over the
    node's input, e.g. ``{"name": "{{ inputs.input.first }} {{ inputs.input.last }}",
    "adult": "{{ inputs.input.age >= 18 }}"}``; an entry that is exactly one
    expression keeps its type (a number, a boolean, an object). With
    ``include_input`` the input object's keys come first and ``values`` overrides
    them, so the node can add or replace fields of what flows through it.
    """

    spec = NodeSpec(
        type="data.set", version=1, title="Set values", category="data", idempotent=True
    )

    class Params(BaseModel):
        values: dict[str, JsonValue] = Field(
            default_factory=dict, description="Keys and their values or expressions."
        )
        include_input: bool = Field(
            default=False, description="Start from the input object and set values over it."
        )

    params: Params

    class Inputs(BaseModel):
        input: JsonValue = None

    class Outputs(BaseModel):
        output: dict[str, JsonValue] = Field(description="The object built.")

    async def run(self, inputs: Inputs, ctx: RunContext) -> Outputs:
        if not self.params.include_input or inputs.input is None:
            return self.Outputs(output=dict(self.params.values))
        if not isinstance(inputs.input, dict):
            raise NodeError(
                KIND_INVALID_INPUTS,
                "include_input needs an object input to set values on,"
                f" got {_JSON_TYPES[type(inputs.input)]}",
            )
        return self.Outputs(output={**inputs.input, **self.params.values})


class Template(Node):
    """Render text from a Jinja2 template.

    The template reads the input as ``input`` (``{{ input.name }}``), besides every
    name an expression may read (``inputs``, ``nodes``, ``trigger``, ``secrets``,
    ``run``). Loops, conditions and filters work (``{% for item in input.items %}``);
    it renders in the same sandbox as expressions. Unlike other string params the
    template is not evaluated before the node runs, so the node renders it once,
    here, and data never becomes template code.
    """

    spec = NodeSpec(
        type="data.template", version=1, title="Template", category="data", idempotent=True
    )

    class Params(BaseModel):
        template: str = RawTemplate(description="Jinja2 text; the input is `input`.")

    params: Params

    class Inputs(BaseModel):
        input: JsonValue = None

    class Outputs(BaseModel):
        text: str = Field(description="The rendered text.")

    async def run(self, inputs: Inputs, ctx: RunContext) -> Outputs:
        text = ctx.render(self.params.template, {"input": inputs.input})
        return self.Outputs(text=text)


NODES: list[type[Node]] = [SetData, Template]
