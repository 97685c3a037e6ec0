"""Execution plans of flow documents, compiled once and kept in a bounded cache.

Starting a run of a draft compiles its document; the same document (the benchmark's
flow, a flow run again and again from the editor) is compiled once. Plans are keyed by
the document's digest (equal documents make equal bundles) in LRU order, so a
long-lived server editing many drafts keeps a bounded number of them.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from typing import Any

from plait.node_runner.compiler import compile_flow
from plait.node_runner.execution_plan import ExecutionPlan, load_plan
from plait.node_runner.registry import NodeRegistry

DEFAULT_SIZE = 256


def document_digest(document: Any) -> str:
    text = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class PlanCache:
    """Compile-and-load with a cache; safe to call from request threads and the loop."""

    def __init__(self, registry: NodeRegistry, *, size: int = DEFAULT_SIZE) -> None:
        self.registry = registry
        self.size = size
        self._by_document: OrderedDict[str, ExecutionPlan] = OrderedDict()
        self._lock = threading.Lock()
        self.compiled = 0  # how many times a document was actually compiled

    def plan_for(self, document: dict[str, Any]) -> ExecutionPlan:
        """The plan of a flow document.

        Raises:
            CompileError: the flow does not validate (``problems`` says why).
            FlowError: the document is not a flow document.
        """
        key = document_digest(document)
        with self._lock:
            plan = self._by_document.get(key)
            if plan is not None:
                self._by_document.move_to_end(key)
                return plan
        # Compiled outside the lock: two threads may compile one document at once, and
        # get equal plans; that is cheaper than serialising every compile.
        bundle = compile_flow(document, self.registry)
        plan = load_plan(bundle, self.registry)
        with self._lock:
            self.compiled += 1
            self._by_document[key] = plan
            while len(self._by_document) > self.size:
                self._by_document.popitem(last=False)
        return plan
