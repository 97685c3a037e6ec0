"""The node SDK: what a node author imports.

One class per node, typed Pydantic ``Params``/``Inputs``/``Outputs``, one ``run``::

    class Greet(Node):
        \"\"\"Say hello.\"\"\"

        spec = NodeSpec(type="demo.greet", version=1, title="Greet", category="demo")

        class Params(BaseModel):
            greeting: str = "Hello"

        class Inputs(BaseModel):
            name: str

        class Outputs(BaseModel):
            text: str

        async def run(self, inputs: Inputs, ctx: RunContext) -> Outputs:
            return self.Outputs(text=f"{self.params.greeting} {inputs.name}")

``run`` may be synchronous; it then runs in a thread pool. A node leaves an output
port *unset* (so what hangs off it is skipped) by not setting that field: the ports
a run produced are the Outputs model's ``model_fields_set`` (or a returned dict's keys).
Nodes keep no per-run state on ``self``; services come from ``ctx``.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from .blobs import BlobStore
from .errors import NodeError
from .ports import ErrorPort, MultiEdge, Port, RawTemplate, ServiceInput, model_ports
from .services import (
    Cancellation,
    ChildRuns,
    InMemoryChildRuns,
    InMemoryKeyValueStore,
    InMemorySecrets,
    KeyValueStore,
    Secrets,
)

__all__ = [
    "BaseModel",
    "Cancellation",
    "ChildRuns",
    "ConfigDict",
    "ErrorPort",
    "Field",
    "JsonValue",
    "KeyValueStore",
    "MultiEdge",
    "Node",
    "NodeError",
    "NodeSpec",
    "RawTemplate",
    "RunContext",
    "Secrets",
    "ServiceInput",
    "ServiceNode",
    "ServiceNodes",
    "Suspension",
]


class NodeSpec(BaseModel):
    """What a node type is, as data."""

    model_config = ConfigDict(frozen=True)

    type: str = Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
    version: int = Field(ge=1)
    title: str
    category: str
    description: str = ""
    # True when running the node twice has the effect of running it once. Non-idempotent
    # nodes get their events flushed before they start and after they finish.
    idempotent: bool = False
    # Trigger nodes start runs; they take the run's payload and have no input ports.
    trigger: bool = False
    # A param that is this node's join mode (control.merge's ``mode``).
    join_param: str | None = None


class EmptyModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


@runtime_checkable
class Suspension(Protocol):
    """Durable waiting. A suspended node's state is ``suspended`` until it resumes."""

    async def sleep_until(self, when: datetime) -> None: ...

    async def wait_for_signal(self, name: str) -> Any: ...


class ServiceNode(Protocol):
    """A node on one of this node's service edges (a tool, a memory, a model)."""

    node_id: str
    type: str
    title: str
    description: str
    inputs_schema: dict[str, Any]

    async def call(self, inputs: Mapping[str, Any]) -> dict[str, Any]: ...


@runtime_checkable
class ServiceNodes(Protocol):
    def get(self, kind: str) -> list[ServiceNode]: ...


class _NoServices:
    def get(self, kind: str) -> list[ServiceNode]:
        return []


class _NoSuspension:
    async def sleep_until(self, when: datetime) -> None:
        import asyncio
        from datetime import UTC

        delay = (when - datetime.now(UTC)).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)

    async def wait_for_signal(self, name: str) -> Any:
        raise NodeError("suspension", f"no signal service here to wait for {name!r}")


_LOG = logging.getLogger("plait.node")


class RunContext:
    """Everything a node may use besides its inputs and params."""

    __slots__ = (
        "allow_private_networks",
        "attempt",
        "blobs",
        "cancellation",
        "children",
        "kv",
        "logger",
        "node_id",
        "render",
        "run_id",
        "secrets",
        "services",
        "suspension",
        "trigger_payload",
    )

    def __init__(
        self,
        *,
        run_id: str = "local",
        node_id: str = "node",
        attempt: int = 1,
        logger: logging.Logger | logging.LoggerAdapter[logging.Logger] | None = None,
        secrets: Secrets | None = None,
        blobs: BlobStore | None = None,
        cancellation: Cancellation | None = None,
        kv: KeyValueStore | None = None,
        children: ChildRuns | None = None,
        suspension: Suspension | None = None,
        services: ServiceNodes | None = None,
        trigger_payload: Any = None,
        allow_private_networks: bool = False,
        render: Callable[[str, Mapping[str, Any]], str] | None = None,
    ) -> None:
        from .blobs import InMemoryBlobStore

        self.run_id = run_id
        self.node_id = node_id
        self.attempt = attempt
        self.logger = logger if logger is not None else _LOG
        self.secrets: Secrets = secrets if secrets is not None else InMemorySecrets()
        self.blobs: BlobStore = blobs if blobs is not None else InMemoryBlobStore()
        self.cancellation = cancellation if cancellation is not None else Cancellation()
        self.kv: KeyValueStore = kv if kv is not None else InMemoryKeyValueStore()
        self.children: ChildRuns = children if children is not None else InMemoryChildRuns()
        self.suspension: Suspension = suspension if suspension is not None else _NoSuspension()
        self.services: ServiceNodes = services if services is not None else _NoServices()
        self.trigger_payload = trigger_payload
        self.allow_private_networks = allow_private_networks
        # Renders a sandboxed template with the node's expression names (inputs, trigger,
        # nodes, secrets, run) plus ``extra``; set by the engine.
        self.render = render if render is not None else _render_plain

    @property
    def cancelled(self) -> bool:
        return self.cancellation.cancelled


def _render_plain(text: str, extra: Mapping[str, Any]) -> str:
    from .expressions import render_template

    return render_template(text, dict(extra))


class Node:
    """Base class of every node type. Subclasses set ``spec`` and the three models."""

    spec: ClassVar[NodeSpec]
    Params: ClassVar[type[BaseModel]] = EmptyModel
    Inputs: ClassVar[type[BaseModel]] = EmptyModel
    Outputs: ClassVar[type[BaseModel]] = EmptyModel

    # Filled in by __init_subclass__.
    is_async: ClassVar[bool] = True

    __slots__ = ("params",)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "spec" in cls.__dict__ and not cls.spec.description and cls.__doc__:
            doc = inspect.cleandoc(cls.__doc__)
            cls.spec = cls.spec.model_copy(update={"description": doc})
        cls.is_async = inspect.iscoroutinefunction(cls.run)

    def __init__(self, params: BaseModel) -> None:
        self.params = params

    def run(self, inputs: Any, ctx: RunContext) -> Awaitable[Any] | Any:
        raise NotImplementedError(f"{type(self).__name__} does not define run()")

    # -- ports -----------------------------------------------------------------------

    @classmethod
    def input_ports(cls) -> list[Port]:
        return _ports(cls, "Inputs")

    @classmethod
    def output_ports(cls, params: Mapping[str, Any] | None = None) -> list[Port]:
        """Output ports; a node with ports chosen by its params overrides ``dynamic_outputs``."""
        dynamic = cls.dynamic_outputs(params or {})
        if dynamic is not None:
            return dynamic
        return _ports(cls, "Outputs")

    @classmethod
    def dynamic_outputs(cls, params: Mapping[str, Any]) -> list[Port] | None:
        """Output ports that depend on params (``control.switch``); ``None`` = static."""
        return None

    @classmethod
    def tool_schema(cls, params: Mapping[str, Any]) -> dict[str, Any]:
        """What an agent is told about this node when it is on a ``tool`` edge.

        ``{"description": str, "parameters": JSON Schema of the call's arguments}``. The
        default is the spec's description and the Inputs schema; a node whose
        arguments depend on its params (``tool.flow``) overrides it.
        """
        return {"description": cls.spec.description, "parameters": cls.Inputs.model_json_schema()}

    @classmethod
    def dynamic_outputs_doc(cls) -> dict[str, Any] | None:
        """How the catalogue tells the editor to derive dynamic output ports."""
        return None


_PORT_CACHE: dict[tuple[type[Node], str], list[Port]] = {}


def _ports(cls: type[Node], which: str) -> list[Port]:
    key = (cls, which)
    ports = _PORT_CACHE.get(key)
    if ports is None:
        ports = model_ports(getattr(cls, which))
        _PORT_CACHE[key] = ports
    return ports
