"""The live progress lines: what a person watching a run reads, event by event."""

from __future__ import annotations

import io

from rich.console import Console

from plait.api._progress import RunProgress, format_duration, short_message
from plait.node_runner.events import RunEvent
from plait.node_runner.flow import load_flow

FLOW = load_flow(
    {
        "schema_version": 1,
        "name": "Progress",
        "nodes": [
            {"id": "start", "type": "trigger.manual"},
            {
                "id": "fetch",
                "type": "http.request",
                "params": {"url": "http://127.0.0.1:1/"},
                "retry": {"max_attempts": 3},
                "on_error": "error_port",
            },
            {"id": "use", "type": "data.template", "params": {"template": "x"}},
        ],
        "edges": [],
    }
)
ERROR = {"kind": "connection", "message": "GET http://127.0.0.1:1/ failed: refused\nmore"}


def _lines(fancy: bool) -> list[str]:
    console = Console(
        file=io.StringIO(), force_terminal=fancy, record=True, width=200, soft_wrap=True
    )
    progress = RunProgress(console, FLOW, fancy=fancy)
    events = [
        RunEvent("r", 1, "run.started", None, {}, ts=100.0),
        RunEvent("r", 2, "node.started", "fetch", {"attempt": 1}, ts=100.0),
        RunEvent("r", 3, "node.retrying", "fetch", {"attempt": 1, "error": ERROR, "delay_s": 1}),
        RunEvent("r", 4, "node.started", "fetch", {"attempt": 2}, ts=101.0),
        RunEvent(
            "r",
            5,
            "node.failed",
            "fetch",
            {"attempt": 2, "error": ERROR, "routed": "error_port"},
            ts=101.5,
        ),
        RunEvent("r", 6, "node.skipped", "use", {"reason": "no input arrived"}),
        RunEvent("r", 7, "node.suspended", "use", {"call": "1.0", "until": "2030-01-01T12:34:56"}),
        RunEvent("r", 8, "node.cancelled", "use", {"reason": "run.cancelled"}),
        RunEvent("r", 9, "run.cancelled", None, {}),
    ]
    for event in events:
        progress(event)
    return console.export_text().splitlines()  # the text, without colour codes


def test_plain_lines_in_a_pipe() -> None:
    assert _lines(fancy=False) == [
        "  fetch  started (http.request)",
        "  fetch  attempt 1/3 failed (connection: GET http://127.0.0.1:1/ failed: refused);"
        " retrying in 1.0 s",
        "  fetch  started (http.request), attempt 2/3",
        "  fetch  failed in 1.5 s after 2 attempts: connection: GET http://127.0.0.1:1/ failed:"
        " refused -> error port",
        "  use    skipped: no input arrived",
        "  use    waiting until 12:34:56 UTC",
        "  use    cancelled: the run ended (cancelled)",
    ]


def test_symbols_on_a_terminal() -> None:
    lines = _lines(fancy=True)
    assert len(lines) == 7
    assert lines[0].startswith("  ▶ fetch")
    assert lines[3].startswith("  ✗ fetch")


def test_format_duration() -> None:
    assert format_duration(0.0123) == "12 ms"
    assert format_duration(2.46) == "2.5 s"
    assert format_duration(185) == "3 min 05 s"


def test_short_message_keeps_one_line() -> None:
    assert short_message(ERROR) == "connection: GET http://127.0.0.1:1/ failed: refused"
    long = short_message({"kind": "k", "message": "x" * 500})
    assert len(long) == 160 and long.endswith("…")
