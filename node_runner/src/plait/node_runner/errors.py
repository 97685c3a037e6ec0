"""One error family for the engine, and the structured error a node run turns into."""

from __future__ import annotations

import traceback as _tb
from typing import Any

# Error kinds the engine itself produces; nodes may use their own kinds too.
KIND_EXCEPTION = "exception"
KIND_TIMEOUT = "timeout"
KIND_CANCELLED = "cancelled"
KIND_EXPRESSION = "expression"
KIND_INVALID_PARAMS = "invalid_params"
KIND_INVALID_INPUTS = "invalid_inputs"
KIND_INVALID_OUTPUTS = "invalid_outputs"
KIND_HTTP_STATUS = "http_status"
KIND_CONNECTION = "connection"
KIND_RUN_TIMEOUT = "run_timeout"


class PlaitError(Exception):
    """Base class of every error the engine raises on purpose."""


class FlowError(PlaitError):
    """A flow document that cannot be parsed or used."""


class BundleError(PlaitError):
    """A bundle that cannot be built or loaded (bad hash, bad layout)."""


class NodeError(PlaitError):
    """A node's failure, structured so it can be stored, routed and shown.

    Node code may raise it directly to choose the kind (``http_status``,
    ``connection``, ...). Any other exception escaping a node becomes a
    ``NodeError`` of kind ``exception`` at the engine's error boundary.
    """

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        node_id: str | None = None,
        attempt: int | None = None,
        traceback: str | None = None,
        status: int | None = None,
        details: Any = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.node_id = node_id
        self.attempt = attempt
        self.traceback = traceback
        self.status = status
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        """The JSON form carried by events and by a node's ``error`` port."""
        out: dict[str, Any] = {
            "kind": self.kind,
            "message": self.message,
            "node_id": self.node_id,
            "attempt": self.attempt,
            "traceback": self.traceback,
        }
        if self.status is not None:
            out["status"] = self.status
        if self.details is not None:
            out["details"] = self.details
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NodeError:
        return cls(
            data.get("kind", KIND_EXCEPTION),
            data.get("message", ""),
            node_id=data.get("node_id"),
            attempt=data.get("attempt"),
            traceback=data.get("traceback"),
            status=data.get("status"),
            details=data.get("details"),
        )

    @classmethod
    def from_exception(
        cls, exc: BaseException, *, node_id: str | None, attempt: int | None
    ) -> NodeError:
        """The error boundary: any exception from node code becomes a NodeError."""
        if isinstance(exc, NodeError):
            exc.node_id = node_id
            exc.attempt = attempt
            if exc.traceback is None:
                exc.traceback = "".join(_tb.format_exception(exc))
            return exc
        message = str(exc) or type(exc).__name__
        return cls(
            KIND_EXCEPTION,
            f"{type(exc).__name__}: {message}",
            node_id=node_id,
            attempt=attempt,
            traceback="".join(_tb.format_exception(exc)),
        )

    def __repr__(self) -> str:
        return f"NodeError(kind={self.kind!r}, message={self.message!r}, node_id={self.node_id!r})"
