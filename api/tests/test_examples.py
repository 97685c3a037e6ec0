"""Every example flow is canonical, valid, and runs to the outcome examples/README.md promises."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from clikit import EXAMPLES, read_events

from plait.node_runner.flow import dump_flow, load_flow
from plait.node_runner.registry import NodeRegistry
from plait.node_runner.validation import validate

EXAMPLE_FILES = sorted(EXAMPLES.glob("*.json"))


def _run_json(cli: Any, name: str, *args: str) -> tuple[int, dict[str, Any]]:
    result = cli("run", EXAMPLES / name, "--json", *args)
    return result.exit_code, json.loads(result.stdout)


def _statuses(doc: dict[str, Any]) -> dict[str, str]:
    return {node_id: info["status"] for node_id, info in doc["nodes"].items()}


def test_there_is_an_example_per_semantic() -> None:
    names = {p.stem for p in EXAMPLE_FILES}
    assert {
        "hello",
        "branch",
        "merge",
        "retry",
        "error_port",
        "timeout",
        "large_value",
        "greet_webhook",
    } <= names


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_example_is_canonical(path: Path) -> None:
    # Sorted keys, 2-space indent, defaults left out, trailing newline: what the editor
    # would save, so a save without edits leaves git with nothing to show.
    text = path.read_text()
    assert dump_flow(load_flow(text)) == text


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_example_has_no_problems(path: Path) -> None:
    assert validate(load_flow(path.read_text()), NodeRegistry.discover()) == []


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_example_is_listed_in_the_examples_readme(path: Path) -> None:
    assert f"examples/{path.name}" in (EXAMPLES / "README.md").read_text()


def test_hello(cli: Any) -> None:
    code, doc = _run_json(cli, "hello.json", "--input", '{"name": "Ada"}')
    assert code == 0
    assert doc["status"] == "succeeded"
    assert doc["outputs"] == {"greet": {"text": "Hello Ada!"}}
    assert doc["nodes"] == {
        "start": {"status": "succeeded", "attempts": 1},
        "greet": {"status": "succeeded", "attempts": 1},
    }


def test_hello_without_input_greets_the_world(cli: Any) -> None:
    code, doc = _run_json(cli, "hello.json")
    assert code == 0
    assert doc["outputs"] == {"greet": {"text": "Hello world!"}}


def test_make_run_prints_the_greeting(cli: Any) -> None:
    # What `make run` runs: no --json, a readable summary on stdout.
    result = cli("run", EXAMPLES / "hello.json", "--input", '{"name":"Ada"}')
    assert result.exit_code == 0
    assert "succeeded" in result.stdout
    assert "greet.text: Hello Ada!" in result.stdout


@pytest.mark.parametrize(
    ("total", "branch"),
    [(1500, "vip"), (250, "large"), (20, "small"), (0, "empty")],
)
def test_branch_runs_exactly_one_branch(cli: Any, total: int, branch: str) -> None:
    code, doc = _run_json(cli, "branch.json", "--input", json.dumps({"total": total}))
    assert code == 0
    assert list(doc["outputs"]) == [branch]
    leaves = {"vip", "large", "small", "empty"}
    statuses = _statuses(doc)
    assert statuses[branch] == "succeeded"
    assert {statuses[n] for n in leaves - {branch}} == {"skipped"}


def test_merge_waits_for_both_branches(cli: Any) -> None:
    code, doc = _run_json(cli, "merge.json", "--input", '{"name": "Grace"}')
    assert code == 0
    # Edge order: the profile branch's edge comes first, then the delayed one.
    assert doc["outputs"] == {
        "join": {"output": [{"name": "Grace", "role": "engineer"}, "checked after a short wait"]}
    }


def _port_is_closed(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_retry_retries_then_routes_the_error(cli: Any, tmp_path: Path) -> None:
    # retry.json calls 127.0.0.1:1, which must refuse connections for the retries to show.
    assert _port_is_closed(1), "something listens on 127.0.0.1:1; retry.json expects it closed"
    events = tmp_path / "retry.jsonl"
    code, doc = _run_json(cli, "retry.json", "--events", str(events))
    assert code == 0
    assert doc["status"] == "succeeded"
    assert doc["nodes"]["fetch"] == {"status": "failed", "attempts": 3}
    assert doc["nodes"]["use"]["status"] == "skipped"
    assert doc["outputs"] == {"report": {"text": "gave up after 3 attempts: connection error"}}
    retrying = [e for e in read_events(events) if e["type"] == "node.retrying"]
    # Exponential backoff from 0.05 s, as the flow's retry policy says; no jitter.
    assert [e["data"]["delay_s"] for e in retrying] == [0.05, 0.1]
    assert [e["data"]["error"]["kind"] for e in retrying] == ["connection", "connection"]


def test_error_port_takes_the_error_path(cli: Any) -> None:
    code, doc = _run_json(cli, "error_port.json")
    assert code == 0
    assert doc["nodes"]["parse"]["status"] == "failed"
    assert doc["nodes"]["accepted"]["status"] == "skipped"
    assert doc["outputs"]["rejected"]["text"].startswith("order rejected (expression):")


def test_error_port_takes_the_normal_path_when_nothing_fails(cli: Any) -> None:
    code, doc = _run_json(cli, "error_port.json", "--input", '{"order": {"id": 7}}')
    assert code == 0
    assert doc["outputs"] == {"accepted": {"text": "order 7 accepted"}}
    assert doc["nodes"]["rejected"]["status"] == "skipped"


def test_timeout_routes_the_timed_out_node(cli: Any) -> None:
    code, doc = _run_json(cli, "timeout.json")
    assert code == 0
    assert doc["nodes"]["slow"] == {"status": "timed_out", "attempts": 1}
    assert doc["nodes"]["late"]["status"] == "skipped"
    assert doc["outputs"]["fallback"]["text"].startswith("slow step timeout:")


def test_large_value_travels_by_reference(cli: Any, tmp_path: Path, data_dir: Path) -> None:
    events = tmp_path / "large.jsonl"
    code, doc = _run_json(cli, "large_value.json", "--events", str(events))
    assert code == 0
    assert doc["outputs"] == {"measure": {"output": {"chars": 2_700_000, "starts_with": "xxx"}}}
    # The 2.7 MB text is stored once; events carry only its reference.
    assert events.stat().st_size < 100_000
    refs = [
        e["data"]["outputs"][port]
        for e in read_events(events)
        if e["type"] == "node.succeeded" and e["node_id"] in ("render", "hold", "check")
        for port in e["data"]["outputs"]
    ]
    assert len(refs) == 3
    assert all(set(ref) == {"$blob", "size"} for ref in refs)
    assert len({ref["$blob"] for ref in refs}) == 1  # the same content, the same blob
    digest = refs[0]["$blob"].removeprefix("sha256:")
    blob = data_dir / "blobs" / "sha256" / digest[:2] / digest[2:]
    assert blob.stat().st_size == refs[0]["size"] > 1024 * 1024


def test_greet_webhook_answers(cli: Any) -> None:
    payload = {"method": "GET", "path": "/hello/Ada", "path_params": {"name": "Ada"}}
    code, doc = _run_json(cli, "greet_webhook.json", "--input", json.dumps(payload))
    assert code == 0
    assert doc["outputs"] == {
        "reply": {"response": {"status": 200, "headers": {}, "body": "Hello Ada"}}
    }


def test_greet_webhook_is_the_architecture_example() -> None:
    # ARCHITECTURE.md §3's hand-written flow, loaded as written there, is this file.
    hand_written = {
        "schema_version": 1,
        "name": "Greet",
        "nodes": [
            {
                "id": "hook",
                "type": "trigger.webhook",
                "version": 1,
                "position": {"x": 0, "y": 0},
                "params": {"method": "GET", "path": "/hello/{name}"},
            },
            {
                "id": "reply",
                "type": "http.respond",
                "version": 1,
                "position": {"x": 300, "y": 0},
                "params": {"status": 200, "body": "Hello {{ inputs.input.name }}"},
                "retry": {"max_attempts": 3, "backoff": "exponential", "delay_s": 0.5},
                "timeout_s": 10,
            },
        ],
        "edges": [
            {
                "id": "e1",
                "source": "hook",
                "source_port": "path_params",
                "target": "reply",
                "target_port": "input",
            }
        ],
    }
    text = (EXAMPLES / "greet_webhook.json").read_text()
    assert load_flow(text) == load_flow(hand_written)


# ARCHITECTURE.md §3's example, byte for byte as it is written there (not canonical).
ARCHITECTURE_EXAMPLE = """\
{"schema_version": 1, "name": "Greet",
 "nodes": [
   {"id": "hook", "type": "trigger.webhook", "version": 1, "position": {"x": 0, "y": 0},
    "params": {"method": "GET", "path": "/hello/{name}"}},
   {"id": "reply", "type": "http.respond", "version": 1, "position": {"x": 300, "y": 0},
    "params": {"status": 200, "body": "Hello {{ inputs.input.name }}"},
    "retry": {"max_attempts": 3, "backoff": "exponential", "delay_s": 0.5}, "timeout_s": 10}],
 "edges": [{"id": "e1", "source": "hook", "source_port": "path_params",
            "target": "reply", "target_port": "input"}]}
"""


def test_a_hand_written_flow_validates_compiles_and_runs_without_edits(
    cli: Any, tmp_path: Path
) -> None:
    flow = tmp_path / "greet.json"
    flow.write_text(ARCHITECTURE_EXAMPLE)
    assert cli("validate", flow).exit_code == 0
    compiled = cli("compile", flow, "-o", tmp_path / "bundle")
    assert compiled.exit_code == 0 and len(compiled.stdout.splitlines()[-1]) == 64
    payload = json.dumps({"path": "/hello/Ada", "path_params": {"name": "Ada"}})
    result = cli("run", flow, "--input", payload, "--json")
    assert result.exit_code == 0, result.stdout
    assert json.loads(result.stdout)["outputs"]["reply"]["response"]["body"] == "Hello Ada"
