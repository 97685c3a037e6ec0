"""Control nodes: branch and join.

A control node chooses a branch by leaving its other output ports unset; the engine
then skips what hangs off them (ARCHITECTURE.md §5).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field, JsonValue, field_validator

from plait.node_runner.ports import Port
from plait.node_runner.sdk import MultiEdge, Node, NodeSpec, RunContext

# Strings that read as "no" once stripped and lower-cased: what a false boolean, a zero
# or a null becomes when an expression is part of a longer text ("{{ x }} " renders
# False as "False", None as "None").
FALSE_STRINGS = frozenset({"", "false", "0", "none", "null"})


def truthy(value: JsonValue) -> bool:
    """Whether a condition holds.

    ``null``, ``false``, ``0``, empty arrays and empty objects are false, as in
    Python and Jinja2. Strings are false when, stripped and lower-cased, they are
    ``""``, ``"false"``, ``"0"``, ``"none"`` or ``"null"``, and true otherwise.

    Args:
        value: The condition, usually an expression the engine has evaluated.

    Returns:
        True when the condition holds.
    """
    if isinstance(value, str):
        return value.strip().lower() not in FALSE_STRINGS
    return bool(value)


class If(Node):
    """Send the input down ``true`` or ``false``, depending on a condition.

    ``condition`` is usually an expression such as ``{{ inputs.input.age >= 18 }}``.
    It is false when it is ``null``, ``false``, ``0``, an empty array or object, or
    a string that reads as false: ``""``, ``"false"``, ``"0"``, ``"none"``, ``"null"``
    (any case, surrounding spaces ignored). Anything else is true. The input comes
    out unchanged on exactly one port; what hangs off the other is skipped.
    """

    spec = NodeSpec(type="control.if", version=1, title="If", category="control", idempotent=True)

    class Params(BaseModel):
        condition: JsonValue = Field(
            description="True or false; usually an expression over the input.",
            examples=["{{ inputs.input.age >= 18 }}"],
        )

    params: Params

    class Inputs(BaseModel):
        input: JsonValue = None

    class Outputs(BaseModel):
        true: JsonValue = Field(default=None, description="The input, when the condition holds.")
        false: JsonValue = Field(default=None, description="The input, when it does not.")

    async def run(self, inputs: Inputs, ctx: RunContext) -> Outputs:
        if truthy(self.params.condition):
            return self.Outputs(true=inputs.input)
        return self.Outputs(false=inputs.input)


# -- switch -------------------------------------------------------------------------

DEFAULT_PORT = "default"
# ``error`` is the port the engine adds for routed errors (``on_error: error_port``).
RESERVED_CASE_NAMES = frozenset({DEFAULT_PORT, "error"})
# Case names become port names, which expressions read as ``nodes.<id>.<port>``.
_CASE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def _case_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a switch case, or ``None`` when it can."""
    if not _CASE_NAME.fullmatch(name):
        return (
            f"case name {name!r} must be 1 to 64 letters, digits and '_', not starting with a digit"
        )
    if name in RESERVED_CASE_NAMES:
        return f"case name {name!r} is reserved for the port of the same name"
    return None


class SwitchCase(BaseModel):
    """One case of a switch: an output port and the condition that picks it."""

    name: str = Field(description="The case's output port.")
    condition: JsonValue = Field(
        description="True or false, read like control.if's condition.",
        examples=["{{ inputs.input.total > 1000 }}"],
    )

    @field_validator("name")
    @classmethod
    def _valid_name(cls, name: str) -> str:
        problem = _case_name_problem(name)
        if problem is not None:
            raise ValueError(problem)
        return name


class Switch(Node):
    """Send the input down the first case whose condition holds, else ``default``.

    Each case names an output port and has a condition, read like ``control.if``'s.
    Cases are tried in order; the input comes out unchanged on the first that holds,
    or on ``default`` when none does, and every other port is left unset. Case names
    are unique identifiers; ``default`` and ``error`` are taken.
    """

    spec = NodeSpec(
        type="control.switch", version=1, title="Switch", category="control", idempotent=True
    )

    class Params(BaseModel):
        cases: list[SwitchCase] = Field(
            default_factory=list, description="Output ports and their conditions, tried in order."
        )

        @field_validator("cases")
        @classmethod
        def _unique_names(cls, cases: list[SwitchCase]) -> list[SwitchCase]:
            seen: set[str] = set()
            for case in cases:
                if case.name in seen:
                    raise ValueError(f"two cases are named {case.name!r}; names must be unique")
                seen.add(case.name)
            return cases

    params: Params

    class Inputs(BaseModel):
        input: JsonValue = None

    class Outputs(BaseModel):
        # The port every switch has; dynamic_outputs adds one per case before it.
        default: JsonValue = Field(default=None, description="The input, when no case holds.")

    @classmethod
    def dynamic_outputs(cls, params: Mapping[str, Any]) -> list[Port]:
        """One port per case, in order, then ``default``.

        The editor asks while params are half-typed, so malformed cases are passed
        over rather than rejected: the ports are those of the cases that can be read.
        """
        cases = params.get("cases")
        ports: list[Port] = []
        seen: set[str] = set()
        for case in cases if isinstance(cases, list) else ():
            name = case.get("name") if isinstance(case, dict) else None
            if isinstance(name, str) and name not in seen and _case_name_problem(name) is None:
                seen.add(name)
                ports.append(Port(name=name, type="any"))
        ports.append(Port(name=DEFAULT_PORT, type="any"))
        return ports

    @classmethod
    def dynamic_outputs_doc(cls) -> dict[str, Any]:
        return {"from_param": "cases", "name_field": "name", "extra": [DEFAULT_PORT], "type": "any"}

    async def run(self, inputs: Inputs, ctx: RunContext) -> dict[str, JsonValue]:
        for case in self.params.cases:
            if truthy(case.condition):
                return {case.name: inputs.input}
        return {DEFAULT_PORT: inputs.input}


class Merge(Node):
    """Wait for several branches and join them into one.

    Any number of edges may end on ``inputs``. ``mode`` is the node's join:

    * ``all`` waits for every incoming edge and outputs the list of the values that
      arrived, in edge order (branches that were skipped add nothing);
    * ``any`` runs as soon as one value arrives and outputs it;
    * ``first`` does the same and also cancels the branches still running.
    """

    spec = NodeSpec(
        type="control.merge",
        version=1,
        title="Merge",
        category="control",
        idempotent=True,
        join_param="mode",
    )

    class Params(BaseModel):
        mode: Literal["all", "any", "first"] = Field(
            default="all", description="all: wait for every branch; any/first: the first value."
        )

    params: Params

    class Inputs(BaseModel):
        inputs: list[JsonValue] = MultiEdge(description="One value per active incoming edge.")

    class Outputs(BaseModel):
        output: JsonValue = Field(
            default=None, description="The list of values (all) or the first value (any, first)."
        )

    async def run(self, inputs: Inputs, ctx: RunContext) -> Outputs:
        if self.params.mode == "all":
            return self.Outputs(output=inputs.inputs)
        # The engine runs an any/first join only once a value has arrived; called
        # with none, the node has nothing to pass on and leaves its port unset.
        if not inputs.inputs:
            return self.Outputs()
        return self.Outputs(output=inputs.inputs[0])


NODES: list[type[Node]] = [If, Switch, Merge]
