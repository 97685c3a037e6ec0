"""Utility nodes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, Field, JsonValue

from plait.node_runner.sdk import Node, NodeSpec, RunContext

MAX_DELAY_S = 7 * 24 * 3600


class Delay(Node):
    """Wait, then pass the input on unchanged.

    The wait is durable: the run shows the node as suspended, holds no worker while
    it waits, and resumes after a restart. Up to 7 days.
    """

    spec = NodeSpec(type="util.delay", version=1, title="Delay", category="util", idempotent=True)

    class Params(BaseModel):
        seconds: float = Field(
            default=1,
            ge=0,
            le=MAX_DELAY_S,
            allow_inf_nan=False,
            description="How long to wait, in seconds (at most 7 days).",
        )

    params: Params

    class Inputs(BaseModel):
        input: JsonValue = None

    class Outputs(BaseModel):
        output: JsonValue = Field(default=None, description="The input, after the wait.")

    async def run(self, inputs: Inputs, ctx: RunContext) -> Outputs:
        if self.params.seconds > 0:
            wake_at = datetime.now(UTC) + timedelta(seconds=self.params.seconds)
            await ctx.suspension.sleep_until(wake_at)
        return self.Outputs(output=inputs.input)


NODES: list[type[Node]] = [Delay]
