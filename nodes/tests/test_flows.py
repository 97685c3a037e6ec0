"""The node library run by the engine: retries against a real flaky server, and a flow
that uses every first node together."""

from __future__ import annotations

from typing import Any

from plait.node_runner import events as ev
from plait.node_runner.compiler import compile_flow
from plait.node_runner.engine import Executor
from plait.node_runner.events import InMemoryEventStore
from plait.node_runner.registry import NodeRegistry
from plait.node_runner.state import RunStatus

REGISTRY = NodeRegistry.discover()


def flow(nodes: list[dict[str, Any]], edges: list[tuple[str, str, str, str]]) -> dict[str, Any]:
    return {
        "name": "flow",
        "nodes": nodes,
        "edges": [
            {"id": f"e{i}", "source": s, "source_port": sp, "target": t, "target_port": tp}
            for i, (s, sp, t, tp) in enumerate(edges, 1)
        ],
    }


async def run(document: dict[str, Any], payload: Any = None) -> tuple[Any, InMemoryEventStore]:
    store = InMemoryEventStore()
    executor = Executor(REGISTRY, store=store, allow_private_networks=True)
    result = await executor.run(compile_flow(document, REGISTRY), payload)
    return result, store


async def test_http_request_retries_a_flaky_server_with_backoff(http_server: Any) -> None:
    url = http_server.url("/flaky?key=backoff&fail=2&status=503")
    result, store = await run(
        flow(
            [
                {"id": "start", "type": "trigger.manual"},
                {
                    "id": "call",
                    "type": "http.request",
                    "params": {"url": url},
                    "retry": {"max_attempts": 4, "backoff": "exponential", "delay_s": 0.02},
                },
            ],
            [("start", "payload", "call", "input")],
        )
    )
    assert result.status is RunStatus.SUCCEEDED
    assert result.output("call", "body") == {"attempt": 3}
    assert http_server.flaky["backoff"] == 3
    retrying = [e.data for e in store.events(result.run_id) if e.type == ev.NODE_RETRYING]
    assert [(r["attempt"], r["delay_s"], r["error"]["status"]) for r in retrying] == [
        (1, 0.02, 503),
        (2, 0.04, 503),
    ]


async def test_a_client_error_is_not_retried_and_goes_to_the_error_port(
    http_server: Any,
) -> None:
    url = http_server.url("/flaky?key=404&fail=9&status=404")
    result, _ = await run(
        flow(
            [
                {"id": "start", "type": "trigger.manual"},
                {
                    "id": "call",
                    "type": "http.request",
                    "params": {"url": url},
                    "retry": {"max_attempts": 3, "delay_s": 0},
                    "on_error": "error_port",
                },
                {
                    "id": "report",
                    "type": "data.set",
                    "params": {
                        "values": {"failed": "{{ inputs.input.kind }}:{{ inputs.input.status }}"}
                    },
                },
            ],
            [("start", "payload", "call", "input"), ("call", "error", "report", "input")],
        )
    )
    assert result.status is RunStatus.SUCCEEDED
    assert http_server.flaky["404"] == 1
    assert result.output("report", "output") == {"failed": "http_status:404"}


async def test_a_webhook_flow_using_every_first_node(http_server: Any) -> None:
    document = flow(
        [
            {
                "id": "hook",
                "type": "trigger.webhook",
                "params": {"method": "POST", "path": "/orders"},
            },
            {
                "id": "tag",
                "type": "data.set",
                "params": {
                    "values": {
                        "total": "{{ inputs.input.total }}",
                        "vip": "{{ inputs.input.total > 100 }}",
                    }
                },
            },
            {
                "id": "route",
                "type": "control.switch",
                "params": {"cases": [{"name": "vip", "condition": "{{ inputs.input.vip }}"}]},
            },
            {
                "id": "vip_text",
                "type": "data.template",
                "params": {"template": "VIP order of {{ input.total }}"},
            },
            {
                "id": "std_text",
                "type": "data.template",
                "params": {"template": "order of {{ input.total }}"},
            },
            {"id": "join", "type": "control.merge", "params": {"mode": "any"}},
            {"id": "pause", "type": "util.delay", "params": {"seconds": 0.01}},
            {
                "id": "notify",
                "type": "http.request",
                "params": {
                    "method": "POST",
                    "url": http_server.url("/echo"),
                    "body": {"text": "{{ inputs.input }}"},
                },
            },
            {
                "id": "ok",
                "type": "control.if",
                "params": {"condition": "{{ inputs.input == 200 }}"},
            },
            {
                "id": "reply",
                "type": "http.respond",
                "params": {"status": 201, "body": {"message": "{{ nodes.join.output }}"}},
            },
        ],
        [
            ("hook", "body", "tag", "input"),
            ("tag", "output", "route", "input"),
            ("route", "vip", "vip_text", "input"),
            ("route", "default", "std_text", "input"),
            ("vip_text", "text", "join", "inputs"),
            ("std_text", "text", "join", "inputs"),
            ("join", "output", "pause", "input"),
            ("pause", "output", "notify", "input"),
            ("notify", "status", "ok", "input"),
            ("ok", "true", "reply", "input"),
        ],
    )
    result, _ = await run(document, {"method": "POST", "path": "/orders", "body": {"total": 250}})
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.output("reply", "response") == {
        "status": 201,
        "headers": {},
        "body": {"message": "VIP order of 250"},
    }
    assert result.node_status("std_text") == "skipped"
    assert http_server.requests[-1].body == b'{"text":"VIP order of 250"}'

    result, _ = await run(document, {"body": {"total": 5}})
    assert result.output("reply", "response")["body"] == {"message": "order of 5"}
    assert result.node_status("vip_text") == "skipped"
