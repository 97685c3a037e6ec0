"""Port types and the lattice shared by the validator and the editor.

A port carries JSON-compatible data. Its type is one of ``PORT_TYPES``; ``any`` fits
everything and everything fits ``any``. Ports are read off a node's Pydantic
``Inputs``/``Outputs`` models, so no node is described twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

PortType = Literal[
    "any", "object", "array", "string", "number", "integer", "boolean", "null", "error"
]
PORT_TYPES: tuple[str, ...] = (
    "any",
    "object",
    "array",
    "string",
    "number",
    "integer",
    "boolean",
    "null",
    "error",
)

# JSON Schema extension keys the SDK writes into field schemas.
X_MULTI = "x-plait-multi"
X_PORT_TYPE = "x-plait-port-type"
X_SERVICE = "x-plait-service"
X_RAW = "x-plait-raw"

SERVICE_KINDS: tuple[str, ...] = ("tool", "memory", "model")

# The output port a node gains with ``on_error: error_port``; it carries a NodeError.
ERROR_PORT = "error"


def fits(source: str, target: str) -> bool:
    """True when a value of port type ``source`` may flow into a port of type ``target``."""
    if source == target or source == "any" or target == "any":
        return True
    if source == "integer" and target == "number":
        return True
    # A structured error is an object, so it may feed any object port.
    return source == "error" and target == "object"


@dataclass(frozen=True, slots=True)
class Port:
    """One named port of a node type."""

    name: str
    type: str
    required: bool = False
    multi: bool = False
    service: str | None = None
    description: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type, "required": self.required}
        if self.multi:
            out["multi"] = True
        if self.service:
            out["service"] = self.service
        if self.description:
            out["description"] = self.description
        return out


def MultiEdge(**kwargs: Any) -> Any:
    """Mark an input field as multi-edge: it receives the list of its active edges' values.

    Use as ``inputs: list[JsonValue] = MultiEdge()``.
    """
    kwargs.setdefault("default_factory", list)
    return Field(json_schema_extra={X_MULTI: True}, **kwargs)


def ServiceInput(kind: str, **kwargs: Any) -> Any:
    """Mark an input as a service port (``tool``, ``memory`` or ``model`` edges end here).

    Service edges are not data dependencies: the node reaches the nodes on them
    through ``RunContext.services`` at run time.
    """
    if kind not in SERVICE_KINDS:
        raise ValueError(f"service kind must be one of {SERVICE_KINDS}, not {kind!r}")
    kwargs.setdefault("default", None)
    return Field(json_schema_extra={X_SERVICE: kind}, **kwargs)


def ErrorPort(**kwargs: Any) -> Any:
    """Mark a field as carrying a structured ``NodeError`` (port type ``error``)."""
    return Field(json_schema_extra={X_PORT_TYPE: "error"}, **kwargs)


def RawTemplate(**kwargs: Any) -> Any:
    """Mark a string param the engine must not render: the node renders it itself.

    Without this, ``{{ … }}`` in a string param is evaluated before the node runs.
    A template that the node renders (``data.template``) must not be rendered twice,
    or data from one render would become template code in the next.
    """
    return Field(json_schema_extra={X_RAW: True}, **kwargs)


def schema_port_type(schema: dict[str, Any], defs: dict[str, Any] | None = None) -> str:
    """The port type of a (field) JSON Schema: its single JSON type, else ``any``."""
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/") and defs is not None:
        target = defs.get(ref.removeprefix("#/$defs/"))
        if isinstance(target, dict):
            return schema_port_type(
                {**target, **{k: v for k, v in schema.items() if k != "$ref"}}, defs
            )
    explicit = schema.get(X_PORT_TYPE)
    if isinstance(explicit, str):
        return explicit
    typ = schema.get("type")
    if isinstance(typ, str) and typ in PORT_TYPES:
        return typ
    options = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(options, list):
        types = {schema_port_type(o, defs) for o in options if isinstance(o, dict)}
        types.discard("null")  # an optional port has the type of its value
        if len(types) == 1:
            return types.pop()
    if "$ref" in schema or "properties" in schema:
        return "object"
    return "any"


def model_ports(model: type[BaseModel]) -> list[Port]:
    """Ports of an Inputs or Outputs model, in field order."""
    schema = model.model_json_schema(mode="validation")
    props: dict[str, Any] = schema.get("properties", {})
    defs: dict[str, Any] = schema.get("$defs", {})
    required = set(schema.get("required", []))
    ports = []
    for name, field in model.model_fields.items():
        key = field.alias or name
        prop = props.get(key, {})
        multi = bool(prop.get(X_MULTI))
        if multi:
            items = prop.get("items", {})
            typ = schema_port_type(items, defs) if isinstance(items, dict) else "any"
        else:
            typ = schema_port_type(prop, defs)
        service = prop.get(X_SERVICE)
        ports.append(
            Port(
                name=key,
                type=typ,
                required=key in required,
                multi=multi,
                service=service if isinstance(service, str) else None,
                description=field.description,
            )
        )
    return ports
