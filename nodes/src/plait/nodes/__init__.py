"""Plait's built-in nodes: triggers, data, control, HTTP and utility nodes.

``NODES`` is what the ``plait.nodes`` entry point registers (as ``builtin``). Node
modules import heavy dependencies inside ``run``, so importing this package is cheap.
"""

from plait.node_runner.sdk import Node

from .control import If, Merge, Switch
from .data import SetData, Template
from .http import HttpRequest, HttpRespond
from .triggers import ManualTrigger, ScheduleTrigger, WebhookTrigger
from .util import Delay

__all__ = [
    "NODES",
    "Delay",
    "HttpRequest",
    "HttpRespond",
    "If",
    "ManualTrigger",
    "Merge",
    "ScheduleTrigger",
    "SetData",
    "Switch",
    "Template",
    "WebhookTrigger",
]

NODES: list[type[Node]] = [
    ManualTrigger,
    WebhookTrigger,
    ScheduleTrigger,
    SetData,
    Template,
    If,
    Switch,
    Merge,
    HttpRequest,
    HttpRespond,
    Delay,
]
