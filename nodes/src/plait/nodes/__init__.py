"""Plait's built-in nodes: triggers, control, data, storage, tool and agent nodes.

``NODES`` is what the ``plait.nodes`` entry point registers (as ``builtin``): each
module lists its own node classes in its ``NODES``. Node modules import heavy
dependencies (boto3, qdrant-client, SQLAlchemy drivers) inside ``run``, so importing
this package is cheap.
"""

from plait.node_runner.sdk import Node

from . import (
    agents,
    calculator,
    code,
    control,
    data,
    http,
    kv,
    memory,
    models,
    sql,
    storage,
    subflows,
    tabular,
    triggers,
    util,
    vectors,
)
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

# Catalogue order: triggers first, then by kind of work.
NODES: list[type[Node]] = [
    *triggers.NODES,
    *data.NODES,
    *tabular.NODES,
    *code.NODES,
    *control.NODES,
    *subflows.NODES,
    *http.NODES,
    *util.NODES,
    *calculator.NODES,
    *models.NODES,
    *agents.NODES,
    *memory.NODES,
    *vectors.NODES,
    *storage.NODES,
    *sql.NODES,
    *kv.NODES,
]
