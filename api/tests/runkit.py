"""Helpers for the run tests: flows in the database, a few test nodes, waiting on runs.

Flows are written with the models directly, so these tests need nothing of the flows
routes. Waiting is always bounded and on state, never on the clock.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from apikit import Api
from clikit import edge, flow_doc, node
from pydantic import BaseModel, Field, JsonValue

from plait.api.db.models import Flow, FlowVersion, Project, Secret
from plait.api.platform import Platform
from plait.api.runs.secrets import secret_context
from plait.api.services import auth
from plait.node_runner.compiler import compile_flow
from plait.node_runner.errors import NodeError
from plait.node_runner.sdk import Node, NodeSpec, RunContext

TERMINAL = ("succeeded", "failed", "timed_out", "cancelled")

__all__ = ["TERMINAL", "add_flow", "add_secret", "add_version", "chain", "edge", "node"]


# -- test nodes ---------------------------------------------------------------------------


class WaitSignal(Node):
    """Suspend until the signal ``name`` arrives; output its payload."""

    spec = NodeSpec(type="test.wait_signal", version=1, title="Wait", category="test")

    class Params(BaseModel):
        name: str = "go"

    params: Params

    class Inputs(BaseModel):
        input: JsonValue = None

    class Outputs(BaseModel):
        payload: JsonValue = None

    async def run(self, inputs: Inputs, ctx: RunContext) -> Outputs:
        return self.Outputs(payload=await ctx.suspension.wait_for_signal(self.params.name))


class Counter(Node):
    """Add one to a counter in the flow's key-value store; output the new count."""

    spec = NodeSpec(type="test.counter", version=1, title="Counter", category="test")

    class Params(BaseModel):
        key: str = "count"

    params: Params

    class Inputs(BaseModel):
        input: JsonValue = None

    class Outputs(BaseModel):
        count: int = 0

    async def run(self, inputs: Inputs, ctx: RunContext) -> Outputs:
        count = int(await ctx.kv.get(self.params.key, 0)) + 1
        await ctx.kv.set(self.params.key, count)
        return self.Outputs(count=count)


class FailFirst(Node):
    """Fail the first time it runs for a flow (remembered in the key-value store)."""

    spec = NodeSpec(type="test.fail_first", version=1, title="Fail first", category="test")

    class Inputs(BaseModel):
        input: JsonValue = None

    class Outputs(BaseModel):
        output: JsonValue = None

    async def run(self, inputs: Inputs, ctx: RunContext) -> Outputs:
        if not await ctx.kv.get("failed_once", False):
            await ctx.kv.set("failed_once", True)
            raise NodeError("test", "failing the first time")
        return self.Outputs(output=inputs.input)


class Fail(Node):
    """Always fail."""

    spec = NodeSpec(type="test.fail", version=1, title="Fail", category="test", idempotent=True)

    class Inputs(BaseModel):
        input: JsonValue = None

    class Outputs(BaseModel):
        output: JsonValue = None

    async def run(self, inputs: Inputs, ctx: RunContext) -> Outputs:
        raise NodeError("test", "this node always fails")


class RunChild(Node):
    """Run a flow as a child run with the input; output the child's outputs."""

    spec = NodeSpec(type="test.run_child", version=1, title="Run child", category="test")

    class Params(BaseModel):
        flow: str

    params: Params

    class Inputs(BaseModel):
        input: JsonValue = None

    class Outputs(BaseModel):
        outputs: dict[str, JsonValue] = Field(default_factory=dict)

    async def run(self, inputs: Inputs, ctx: RunContext) -> Outputs:
        return self.Outputs(outputs=await ctx.children.run(self.params.flow, inputs.input))


class Busy(Node):
    """Work (not wait durably) for ``seconds``, then pass the input on."""

    spec = NodeSpec(type="test.busy", version=1, title="Busy", category="test", idempotent=True)

    class Params(BaseModel):
        seconds: float = 0.2

    params: Params

    class Inputs(BaseModel):
        input: JsonValue = None

    class Outputs(BaseModel):
        output: JsonValue = None

    async def run(self, inputs: Inputs, ctx: RunContext) -> Outputs:
        await asyncio.sleep(self.params.seconds)
        return self.Outputs(output=inputs.input)


TEST_NODES = (WaitSignal, Counter, FailFirst, Fail, RunChild, Busy)


def register_test_nodes(platform: Platform) -> None:
    for cls in TEST_NODES:
        platform.registry.register(cls)


# -- flows in the database ----------------------------------------------------------------


# The output port ``chain`` wires on to the next node, by node type.
OUTPUT_PORT = {
    "test.counter": "count",
    "test.wait_signal": "payload",
    "test.run_child": "outputs",
    "http.request": "body",
}


def chain(*nodes: dict[str, Any]) -> dict[str, Any]:
    """A flow document: ``trigger.manual`` then each node in turn, each one's output
    (``OUTPUT_PORT``, else ``output``) into the next one's ``input``."""
    start = node("start", "trigger.manual")
    edges = []
    previous, port = "start", "payload"
    for i, item in enumerate(nodes, start=1):
        edges.append(edge(f"e{i}", previous, port, item["id"], "input"))
        previous, port = item["id"], OUTPUT_PORT.get(item["type"], "output")
    return flow_doc([start, *nodes], edges)


def add_flow(
    platform: Platform, workspace: str, document: dict[str, Any], *, name: str = "Test flow"
) -> str:
    """A flow (in a project of the workspace, made when missing); returns its id."""
    with platform.db.session() as session:
        ws = auth.get_or_create_workspace(session, workspace)
        project = session.query(Project).filter_by(workspace_id=ws.id).first()
        if project is None:
            project = Project(workspace_id=ws.id, name=workspace, slug=f"p-{uuid.uuid4().hex[:10]}")
            session.add(project)
            session.flush()
        flow = Flow(workspace_id=ws.id, project_id=project.id, name=name, document=document)
        session.add(flow)
        session.flush()
        return flow.id


def add_version(platform: Platform, flow_id: str, document: dict[str, Any], number: int) -> str:
    bundle = compile_flow(document, platform.registry)
    with platform.db.session() as session:
        flow = session.get(Flow, flow_id)
        assert flow is not None
        version = FlowVersion(
            workspace_id=flow.workspace_id,
            flow_id=flow_id,
            number=number,
            document=document,
            bundle_id=bundle.id,
        )
        session.add(version)
        session.flush()
        return version.id


def add_secret(platform: Platform, flow_id: str, name: str, value: str) -> None:
    with platform.db.session() as session:
        flow = session.get(Flow, flow_id)
        assert flow is not None
        context = secret_context(flow.workspace_id, flow.project_id, name)
        sealed = platform.secret_box.seal(value, context)
        session.add(
            Secret(
                workspace_id=flow.workspace_id,
                project_id=flow.project_id,
                name=name,
                ciphertext=sealed,
            )
        )


# -- waiting ----------------------------------------------------------------------------


def wait_for_run(
    api: Api, run_id: str, statuses: tuple[str, ...] = TERMINAL, timeout_s: float = 30
) -> dict[str, Any]:
    """Poll ``GET /api/runs/{id}`` until the run's status is one of ``statuses``."""
    deadline = time.monotonic() + timeout_s
    while True:
        body: dict[str, Any] = api.get(f"/api/runs/{run_id}").json()
        if body.get("status") in statuses:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run_id} is still {body.get('status')} after {timeout_s}s")
        time.sleep(0.02)


def wait_for(check: Any, timeout_s: float = 30) -> Any:
    """Poll ``check()`` until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout_s
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing came of {check} in {timeout_s}s")
        time.sleep(0.02)
    return value


def wait_for_node(
    api: Api, run_id: str, node_id: str, status: str, timeout_s: float = 30
) -> dict[str, Any]:
    """Poll until a node of the run reaches ``status``."""
    deadline = time.monotonic() + timeout_s
    while True:
        body: dict[str, Any] = api.get(f"/api/runs/{run_id}").json()
        if body.get("nodes", {}).get(node_id, {}).get("status") == status:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"node {node_id} of run {run_id} never got {status}: {body}")
        time.sleep(0.02)


# -- the usual test setting -------------------------------------------------------------


class Env:
    """An API client of workspace "alpha" and its platform, with the test nodes."""

    def __init__(self, api: Api, platform: Platform) -> None:
        self.api = api
        self.platform = platform
        register_test_nodes(platform)

    def flow(self, document: dict[str, Any], *, name: str = "Test flow") -> str:
        return add_flow(self.platform, "alpha", document, name=name)

    def start(self, flow_id: str, expect: int = 201, **body: Any) -> dict[str, Any]:
        """``POST /api/flows/{flow_id}/runs`` with ``body``; checks the status code."""
        response = self.api.post(f"/api/flows/{flow_id}/runs", json=body)
        assert response.status_code == expect, response.text
        result: dict[str, Any] = response.json()
        return result

    def run(self, flow_id: str, **body: Any) -> dict[str, Any]:
        """Start a run and wait (bounded) for its end; the run with its nodes."""
        started = self.start(flow_id, **body)
        return wait_for_run(self.api, started["id"])

    def events(self, run_id: str) -> list[dict[str, Any]]:
        response = self.api.get(f"/api/runs/{run_id}/events", params={"limit": 1000})
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items
