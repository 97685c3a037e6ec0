"""Small node types for engine tests; node_runner's tests do not depend on plait.nodes."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, JsonValue

from plait.node_runner.errors import NodeError
from plait.node_runner.registry import NodeRegistry
from plait.node_runner.sdk import MultiEdge, Node, NodeSpec, RunContext, ServiceInput


class Start(Node):
    """Start a run with its payload."""

    spec = NodeSpec(
        type="test.start", version=1, title="Start", category="test", trigger=True, idempotent=True
    )

    class Outputs(BaseModel):
        payload: JsonValue = None

    async def run(self, inputs: Any, ctx: RunContext) -> Any:
        return self.Outputs(payload=ctx.trigger_payload)


class Echo(Node):
    """Pass the input on, optionally tagged."""

    spec = NodeSpec(type="test.echo", version=1, title="Echo", category="test", idempotent=True)

    class Params(BaseModel):
        value: JsonValue = None

    class Inputs(BaseModel):
        input: JsonValue = None

    class Outputs(BaseModel):
        output: JsonValue = None

    async def run(self, inputs: Any, ctx: RunContext) -> Any:
        value = self.params.value
        return self.Outputs(output=inputs.input if value is None else value)


class SyncEcho(Node):
    """A blocking node: runs in the thread pool."""

    spec = NodeSpec(
        type="test.sync_echo", version=1, title="Sync echo", category="test", idempotent=True
    )

    class Params(BaseModel):
        seconds: float = 0.001

    class Inputs(BaseModel):
        input: JsonValue = None

    class Outputs(BaseModel):
        output: JsonValue = None

    def run(self, inputs: Any, ctx: RunContext) -> Any:
        time.sleep(self.params.seconds)
        return {"output": inputs.input}


class Add(Node):
    """Add a number to an integer input."""

    spec = NodeSpec(type="test.add", version=1, title="Add", category="test", idempotent=True)

    class Params(BaseModel):
        amount: int = 1

    class Inputs(BaseModel):
        n: int

    class Outputs(BaseModel):
        n: int

    async def run(self, inputs: Any, ctx: RunContext) -> Any:
        return self.Outputs(n=inputs.n + self.params.amount)


class Text(Node):
    """Outputs a string param."""

    spec = NodeSpec(type="test.text", version=1, title="Text", category="test", idempotent=True)

    class Params(BaseModel):
        text: str = ""

    class Inputs(BaseModel):
        input: JsonValue = None

    class Outputs(BaseModel):
        text: str

    async def run(self, inputs: Any, ctx: RunContext) -> Any:
        return self.Outputs(text=self.params.text)


class Collect(Node):
    """Multi-edge input; outputs the list."""

    spec = NodeSpec(
        type="test.collect", version=1, title="Collect", category="test", idempotent=True
    )

    class Inputs(BaseModel):
        items: list[JsonValue] = MultiEdge()

    class Outputs(BaseModel):
        items: list[JsonValue]

    async def run(self, inputs: Any, ctx: RunContext) -> Any:
        return self.Outputs(items=inputs.items)


class Branch(Node):
    """Route the input to ``yes`` or ``no``."""

    spec = NodeSpec(type="test.branch", version=1, title="Branch", category="test", idempotent=True)

    class Params(BaseModel):
        condition: JsonValue = False

    class Inputs(BaseModel):
        input: JsonValue = None

    class Outputs(BaseModel):
        yes: JsonValue = None
        no: JsonValue = None

    async def run(self, inputs: Any, ctx: RunContext) -> Any:
        if self.params.condition:
            return self.Outputs(yes=inputs.input)
        return self.Outputs(no=inputs.input)


class Sleep(Node):
    """Sleep, then pass the input on."""

    spec = NodeSpec(type="test.sleep", version=1, title="Sleep", category="test", idempotent=True)

    class Params(BaseModel):
        seconds: float = 0.01

    class Inputs(BaseModel):
        input: JsonValue = None

    class Outputs(BaseModel):
        output: JsonValue = None

    async def run(self, inputs: Any, ctx: RunContext) -> Any:
        await asyncio.sleep(self.params.seconds)
        return self.Outputs(output=inputs.input)


class Fail(Node):
    """Fail with a given kind."""

    spec = NodeSpec(type="test.fail", version=1, title="Fail", category="test", idempotent=True)

    class Params(BaseModel):
        kind: str = "exception"
        message: str = "boom"
        status: int | None = None

    class Inputs(BaseModel):
        input: JsonValue = None

    class Outputs(BaseModel):
        output: JsonValue = None

    async def run(self, inputs: Any, ctx: RunContext) -> Any:
        if self.params.kind == "exception":
            raise RuntimeError(self.params.message)
        raise NodeError(self.params.kind, self.params.message, status=self.params.status)


FLAKY_CALLS: dict[str, int] = {}


class Flaky(Node):
    """Fail ``failures`` times per key (kind timeout), then succeed."""

    spec = NodeSpec(type="test.flaky", version=1, title="Flaky", category="test", idempotent=True)

    class Params(BaseModel):
        key: str
        failures: int = 1
        kind: str = "connection"

    class Inputs(BaseModel):
        input: JsonValue = None

    class Outputs(BaseModel):
        output: JsonValue = None
        attempt: int

    async def run(self, inputs: Any, ctx: RunContext) -> Any:
        calls = FLAKY_CALLS.get(self.params.key, 0) + 1
        FLAKY_CALLS[self.params.key] = calls
        if calls <= self.params.failures:
            raise NodeError(self.params.kind, f"flaky failure {calls}")
        return self.Outputs(output=inputs.input, attempt=ctx.attempt)


class Signal(Node):
    """Suspend until a signal arrives; output its payload."""

    spec = NodeSpec(type="test.signal", version=1, title="Signal", category="test")

    class Params(BaseModel):
        name: str = "go"

    class Inputs(BaseModel):
        input: JsonValue = None

    class Outputs(BaseModel):
        payload: JsonValue = None

    async def run(self, inputs: Any, ctx: RunContext) -> Any:
        return self.Outputs(payload=await ctx.suspension.wait_for_signal(self.params.name))


class Agent(Node):
    """Calls every tool on its ``tools`` service port with its input."""

    spec = NodeSpec(type="test.agent", version=1, title="Agent", category="test")

    class Inputs(BaseModel):
        input: JsonValue = None
        tools: JsonValue = ServiceInput("tool")

    class Outputs(BaseModel):
        results: list[JsonValue]

    async def run(self, inputs: Any, ctx: RunContext) -> Any:
        results = []
        for tool in ctx.services.get("tool"):
            results.append(await tool.call({"input": inputs.input}))
        return self.Outputs(results=results)


class Big(Node):
    """Output a string of ``size`` characters."""

    spec = NodeSpec(type="test.big", version=1, title="Big", category="test", idempotent=True)

    class Params(BaseModel):
        size: int = 1000

    class Inputs(BaseModel):
        input: JsonValue = None

    class Outputs(BaseModel):
        output: str

    async def run(self, inputs: Any, ctx: RunContext) -> Any:
        return self.Outputs(output="x" * self.params.size)


class Length(Node):
    """The length of a string (or list) input."""

    spec = NodeSpec(type="test.length", version=1, title="Length", category="test", idempotent=True)

    class Inputs(BaseModel):
        input: JsonValue = None

    class Outputs(BaseModel):
        length: int

    async def run(self, inputs: Any, ctx: RunContext) -> Any:
        return self.Outputs(length=len(inputs.input))


class Mode(Node):
    """A merge-like node whose join is its ``mode`` param."""

    spec = NodeSpec(
        type="test.mode",
        version=1,
        title="Mode",
        category="test",
        idempotent=True,
        join_param="mode",
    )

    class Params(BaseModel):
        mode: Literal["all", "any", "first"] = "all"

    class Inputs(BaseModel):
        inputs: list[JsonValue] = MultiEdge()

    class Outputs(BaseModel):
        output: JsonValue = None

    async def run(self, inputs: Any, ctx: RunContext) -> Any:
        return self.Outputs(output=inputs.inputs)


class Pair(Node):
    """A required and an optional input."""

    spec = NodeSpec(type="test.pair", version=1, title="Pair", category="test", idempotent=True)

    class Inputs(BaseModel):
        n: int
        extra: JsonValue = None

    class Outputs(BaseModel):
        output: JsonValue = None

    async def run(self, inputs: Any, ctx: RunContext) -> Any:
        return self.Outputs(output=[inputs.n, inputs.extra])


class Record(Node):
    """Not idempotent: appends its node id to a file; can crash the process once."""

    spec = NodeSpec(type="test.record", version=1, title="Record", category="test")

    class Params(BaseModel):
        path: str
        crash_marker: str | None = None

    class Inputs(BaseModel):
        input: int = 0

    class Outputs(BaseModel):
        output: int

    async def run(self, inputs: Any, ctx: RunContext) -> Any:
        marker = self.params.crash_marker
        if marker and not os.path.exists(marker):
            with open(marker, "w") as fh:
                fh.write(ctx.node_id)
            os._exit(17)  # die mid-run, like a killed worker
        with open(self.params.path, "a") as fh:
            fh.write(ctx.node_id + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        return self.Outputs(output=inputs.input + 1)


class Nap(Node):
    """Waits durably (suspended) for ``seconds``."""

    spec = NodeSpec(type="test.nap", version=1, title="Nap", category="test")

    class Params(BaseModel):
        seconds: float = 0.1

    class Inputs(BaseModel):
        input: JsonValue = None

    class Outputs(BaseModel):
        output: JsonValue = None

    async def run(self, inputs: Any, ctx: RunContext) -> Any:
        until = datetime.now(UTC) + timedelta(seconds=self.params.seconds)
        await ctx.suspension.sleep_until(until)
        return self.Outputs(output=inputs.input)


class CrashAgent(Node):
    """Calls its tools, then crashes the process once (to test step replay)."""

    spec = NodeSpec(type="test.crash_agent", version=1, title="Crash agent", category="test")

    class Params(BaseModel):
        crash_marker: str

    class Inputs(BaseModel):
        input: JsonValue = None
        tools: JsonValue = ServiceInput("tool")

    class Outputs(BaseModel):
        results: list[JsonValue]

    async def run(self, inputs: Any, ctx: RunContext) -> Any:
        results = [await tool.call({"input": inputs.input}) for tool in ctx.services.get("tool")]
        if not os.path.exists(self.params.crash_marker):
            with open(self.params.crash_marker, "w") as fh:
                fh.write("crashed")
            os._exit(17)
        return self.Outputs(results=results)


class Child(Node):
    """Runs a child flow by name and counts calls in the key-value store."""

    spec = NodeSpec(type="test.child", version=1, title="Child", category="test")

    class Params(BaseModel):
        flow: str

    class Inputs(BaseModel):
        input: JsonValue = None

    class Outputs(BaseModel):
        outputs: JsonValue = None
        calls: int

    async def run(self, inputs: Any, ctx: RunContext) -> Any:
        calls = await ctx.kv.get("calls", 0) + 1
        await ctx.kv.set("calls", calls)
        return self.Outputs(
            outputs=await ctx.children.run(self.params.flow, inputs.input), calls=calls
        )


ALL = [
    Child,
    CrashAgent,
    Record,
    Nap,
    Pair,
    Start,
    Echo,
    SyncEcho,
    Add,
    Text,
    Collect,
    Branch,
    Sleep,
    Fail,
    Flaky,
    Signal,
    Agent,
    Big,
    Length,
    Mode,
]


def registry() -> NodeRegistry:
    return NodeRegistry(ALL)
