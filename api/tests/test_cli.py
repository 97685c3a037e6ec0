"""The plait CLI: exit codes, output formats, determinism and its user-facing errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from clikit import EXAMPLES, edge, node, read_events

from plait.api import __version__
from plait.node_runner.compiler import read_bundle
from plait.node_runner.registry import NodeRegistry

HELLO = EXAMPLES / "hello.json"
WriteFlow = Callable[..., Path]


def _failing_flow(write_flow: WriteFlow) -> Path:
    """A flow whose middle node fails (a bad expression) with the default on_error: stop."""
    return write_flow(
        [
            node("start", "trigger.manual"),
            node("parse", "data.set", {"values": {"id": "{{ inputs.input.order.id }}"}}),
            node("after", "data.template", {"template": "never"}),
        ],
        [
            edge("e1", "start", "payload", "parse", "input"),
            edge("e2", "parse", "output", "after", "input"),
        ],
    )


# -- version, help ----------------------------------------------------------------------


def test_version(cli: Any) -> None:
    result = cli("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"plait {__version__}"


@pytest.mark.parametrize("command", ["validate", "compile", "run", "resume", "nodes"])
def test_every_command_has_help_with_an_example(cli: Any, command: str) -> None:
    result = cli(command, "--help")
    assert result.exit_code == 0
    assert "Examples" in result.stdout
    assert f"plait {command}" in result.stdout


# -- validate ---------------------------------------------------------------------------


def test_validate_a_valid_flow(cli: Any) -> None:
    result = cli("validate", HELLO)
    assert result.exit_code == 0
    assert "valid" in result.stdout
    assert cli("validate", HELLO, "--json").stdout.strip() == "[]"


def test_validate_lists_every_problem_and_exits_1(cli: Any, write_flow: WriteFlow) -> None:
    path = write_flow(
        [
            node("start", "trigger.manual"),
            node("odd", "data.nope"),
            node("greet", "data.template", {"template": "{{ oops"}),
        ],
        [
            edge("e1", "start", "payload", "greet", "input"),
            edge("e2", "start", "payload", "ghost", "input"),
        ],
    )
    result = cli("validate", path, "--json")
    assert result.exit_code == 1
    problems = json.loads(result.stdout)
    assert {p["code"] for p in problems} >= {"unknown_node_type", "bad_expression", "missing_node"}
    for p in problems:
        assert set(p) == {"code", "message", "node_id", "edge_id", "field", "severity"}
    by_code = {p["code"]: p for p in problems}
    assert by_code["unknown_node_type"]["node_id"] == "odd"
    assert by_code["bad_expression"]["field"] == "params.template"
    assert by_code["missing_node"]["edge_id"] == "e2"

    table = cli("validate", path)
    assert table.exit_code == 1
    assert "missing_node" in table.stdout and "edge e2" in table.stdout


def test_validate_exits_0_with_only_warnings(cli: Any, write_flow: WriteFlow) -> None:
    path = write_flow(
        [node("start", "trigger.manual"), node("orphan", "data.set", {"values": {"a": 1}})],
        [],
    )
    result = cli("validate", path, "--json")
    assert result.exit_code == 0
    assert [(p["code"], p["severity"]) for p in json.loads(result.stdout)] == [
        ("unreachable", "warning")
    ]
    # A flow with warnings still runs; the warning goes to stderr.
    run = cli("run", path, "--json")
    assert run.exit_code == 0
    assert "warning: node 'orphan' is not reachable" in run.stderr


def test_validate_reports_schema_errors_as_located_problems(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "flow.json"
    path.write_text('{"schema_version": 1, "name": "x", "nodes": [{"id": "a"}]}')
    result = cli("validate", path, "--json")
    assert result.exit_code == 1
    problems = json.loads(result.stdout)
    assert problems[0]["code"] == "invalid_document"
    assert problems[0]["field"] == "nodes.0.type"


# -- compile ----------------------------------------------------------------------------


def test_compile_prints_the_bundle_id_last(cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    result = cli("compile", HELLO, "-o", out)
    assert result.exit_code == 0
    bundle_id = result.stdout.splitlines()[-1]
    assert read_bundle(out).id == bundle_id
    assert len(bundle_id) == 64
    assert sorted(p.name for p in out.iterdir()) == ["flow.json", "flow.py", "manifest.json"]


def test_compile_is_deterministic(cli: Any, tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    id1 = cli("compile", HELLO, "-o", first).stdout.splitlines()[-1]
    id2 = cli("compile", HELLO, "-o", second).stdout.splitlines()[-1]
    assert id1 == id2
    for name in ("flow.json", "flow.py", "manifest.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes()


def test_compile_zip_is_deterministic(cli: Any, tmp_path: Path) -> None:
    dir_id = cli("compile", HELLO, "-o", tmp_path / "dir").stdout.splitlines()[-1]
    zips = []
    for name in ("one.zip", "two.zip"):
        result = cli("compile", HELLO, "-o", tmp_path / name, "--zip")
        assert result.exit_code == 0
        assert result.stdout.splitlines()[-1] == dir_id
        zips.append((tmp_path / name).read_bytes())
    assert zips[0] == zips[1]
    assert read_bundle(tmp_path / "one.zip").id == dir_id


def test_compile_refuses_an_invalid_flow(cli: Any, write_flow: WriteFlow, tmp_path: Path) -> None:
    path = write_flow([node("start", "trigger.manual"), node("odd", "data.nope")], [])
    result = cli("compile", path, "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert not (tmp_path / "out").exists()


def test_compile_refuses_to_write_a_zip_over_a_directory(cli: Any, tmp_path: Path) -> None:
    result = cli("compile", HELLO, "-o", tmp_path, "--zip")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")


# -- run --------------------------------------------------------------------------------


def test_run_json_has_the_documented_shape(cli: Any) -> None:
    result = cli("run", HELLO, "--input", '{"name": "Ada"}', "--json")
    doc = json.loads(result.stdout)
    assert set(doc) == {"run_id", "status", "outputs", "nodes"}  # "error" only on failure
    assert all(set(info) == {"status", "attempts"} for info in doc["nodes"].values())


def test_run_failure_exits_1_with_json_anyway(cli: Any, write_flow: WriteFlow) -> None:
    result = cli("run", _failing_flow(write_flow), "--json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["status"] == "failed"
    assert doc["error"]["kind"] == "expression"
    assert doc["error"]["node_id"] == "parse"
    assert doc["nodes"]["parse"]["status"] == "failed"
    assert doc["nodes"]["after"]["status"] == "abandoned"


def test_run_failure_summary_names_the_node(cli: Any, write_flow: WriteFlow) -> None:
    result = cli("run", _failing_flow(write_flow))
    assert result.exit_code == 1
    assert "failed" in result.stdout
    assert "node parse: expression:" in result.stdout
    assert "Traceback" not in result.output


def test_run_timeout_exits_1(cli: Any, write_flow: WriteFlow) -> None:
    # The flow's own timeout_s ends the run while its delay still waits.
    path = write_flow(
        [node("start", "trigger.manual"), node("wait", "util.delay", {"seconds": 60})],
        [edge("e1", "start", "payload", "wait", "input")],
        timeout_s=0.2,
    )
    result = cli("run", path, "--json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["status"] == "timed_out"
    assert doc["error"]["kind"] == "run_timeout"
    assert doc["nodes"]["wait"]["status"] == "cancelled"


def test_run_reads_input_from_a_file_and_stdin(cli: Any, tmp_path: Path) -> None:
    payload = tmp_path / "input.json"
    payload.write_text('{"name": "Lin"}')
    from_file = json.loads(cli("run", HELLO, "--input-file", payload, "--json").stdout)
    assert from_file["outputs"]["greet"]["text"] == "Hello Lin!"
    from_stdin = cli("run", HELLO, "--input-file", "-", "--json", input='{"name": "Kay"}')
    assert json.loads(from_stdin.stdout)["outputs"]["greet"]["text"] == "Hello Kay!"


def test_run_with_a_named_trigger(cli: Any, write_flow: WriteFlow) -> None:
    path = write_flow(
        [
            node("by_hand", "trigger.manual"),
            node("hook", "trigger.webhook", {"path": "/in"}),
            node("a", "data.template", {"template": "hand"}),
            node("b", "data.template", {"template": "hook {{ input.x }}"}),
        ],
        [
            edge("e1", "by_hand", "payload", "a", "input"),
            edge("e2", "hook", "body", "b", "input"),
        ],
    )
    default = json.loads(cli("run", path, "--json").stdout)
    assert default["outputs"] == {"a": {"text": "hand"}}  # trigger.manual by default
    named = cli("run", path, "--trigger", "hook", "-i", '{"body": {"x": 1}}', "--json")
    doc = json.loads(named.stdout)
    assert doc["outputs"] == {"b": {"text": "hook 1"}}
    assert doc["nodes"]["by_hand"]["status"] == "skipped"


def test_run_progress_is_a_line_per_node_event(cli: Any, write_flow: WriteFlow) -> None:
    result = cli("run", HELLO, "--json")
    lines = result.stderr.splitlines()
    assert lines == [
        "  start  started (trigger.manual)",
        lines[1],
        "  greet  started (data.template)",
        lines[3],
    ]
    assert lines[1].startswith("  start  succeeded in ")
    assert lines[3].startswith("  greet  succeeded in ")
    assert cli("run", HELLO, "--json", "--quiet").stderr == ""


def test_run_events_are_ordered_and_complete(cli: Any, tmp_path: Path) -> None:
    events_path = tmp_path / "runs" / "events.jsonl"  # the directory is created
    first = json.loads(cli("run", HELLO, "--events", events_path, "--json").stdout)
    second = json.loads(cli("run", HELLO, "--events", events_path, "--json").stdout)
    events = read_events(events_path)
    assert {e["run_id"] for e in events} == {first["run_id"], second["run_id"]}
    for run_id in (first["run_id"], second["run_id"]):
        run = [e for e in events if e["run_id"] == run_id]
        assert [e["seq"] for e in run] == list(range(1, len(run) + 1))
        assert [(e["type"], e.get("node_id")) for e in run] == [
            ("run.started", None),
            ("node.started", "start"),
            ("node.succeeded", "start"),
            ("node.started", "greet"),
            ("node.succeeded", "greet"),
            ("run.succeeded", None),
        ]
        assert run[0]["data"]["bundle_id"] == run[0]["data"]["bundle_id"]
        assert run[-2]["data"]["outputs"] == {"text": "Hello world!"}


def test_run_allows_private_networks(cli: Any, write_flow: WriteFlow) -> None:
    # A local run may reach 127.0.0.1 (ARCHITECTURE.md §7): the request is attempted and
    # fails to connect, rather than being refused as a forbidden address.
    path = write_flow(
        [
            node("start", "trigger.manual"),
            node("fetch", "http.request", {"url": "http://127.0.0.1:1/", "timeout_s": 5}),
        ],
        [edge("e1", "start", "payload", "fetch", "input")],
    )
    doc = json.loads(cli("run", path, "--json").stdout)
    assert doc["status"] == "failed"
    assert doc["error"]["kind"] == "connection"


# -- nodes ------------------------------------------------------------------------------


def test_nodes_json_is_the_catalogue(cli: Any) -> None:
    result = cli("nodes", "--json")
    assert result.exit_code == 0
    catalogue = NodeRegistry.discover().catalogue()
    assert json.loads(result.stdout) == json.loads(json.dumps(catalogue))


def test_nodes_table_lists_every_type(cli: Any) -> None:
    result = cli("nodes")
    assert result.exit_code == 0
    for cls in NodeRegistry.discover():
        assert cls.spec.type in result.stdout


# -- user errors: one line on stderr, exit 2, never a traceback -------------------------


def _one_error_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.mark.parametrize("command", ["validate", "compile", "run"])
def test_missing_file(plait_proc: Any, tmp_path: Path, command: str) -> None:
    extra = ["-o", str(tmp_path / "out")] if command == "compile" else []
    proc = plait_proc(command, tmp_path / "nope.json", *extra)
    assert proc.returncode == 2
    assert "no such file" in _one_error_line(proc.stderr)
    assert proc.stdout == ""


def test_directory_instead_of_a_file(plait_proc: Any, tmp_path: Path) -> None:
    proc = plait_proc("run", tmp_path)
    assert proc.returncode == 2
    assert "is a directory" in _one_error_line(proc.stderr)


@pytest.mark.parametrize("command", ["validate", "run"])
def test_bad_json(plait_proc: Any, tmp_path: Path, command: str) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"name": "x",\n  "nodes": [,]}\n')
    proc = plait_proc(command, path)
    assert proc.returncode == 2
    line = _one_error_line(proc.stderr)
    assert "not valid JSON" in line and "line 2, column 13" in line


def test_invalid_flow_lists_the_problems(plait_proc: Any, write_flow: WriteFlow) -> None:
    path = write_flow(
        [node("start", "trigger.manual"), node("odd", "data.nope")],
        [edge("e1", "start", "payload", "ghost", "input")],
    )
    proc = plait_proc("run", path)
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert lines[0].startswith(f"error: {path} is not a valid flow (2 errors)")
    assert any("[unknown_node_type]" in line for line in lines[1:])
    assert any("[missing_node]" in line for line in lines[1:])
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("bad", ["{name: Ada}", "", "NaN", "[1,"])
def test_bad_input_json(plait_proc: Any, bad: str) -> None:
    proc = plait_proc("run", HELLO, "--input", bad)
    assert proc.returncode == 2
    assert _one_error_line(proc.stderr).startswith("error: --input is not valid JSON")


def test_missing_input_file(plait_proc: Any, tmp_path: Path) -> None:
    proc = plait_proc("run", HELLO, "--input-file", tmp_path / "nope.json")
    assert proc.returncode == 2
    assert "no such file" in _one_error_line(proc.stderr)


@pytest.mark.parametrize(
    ("trigger", "message"),
    [("ghost", "unknown trigger 'ghost'"), ("greet", "is a data.template node, not a trigger")],
)
def test_unknown_trigger(plait_proc: Any, trigger: str, message: str) -> None:
    proc = plait_proc("run", HELLO, "--trigger", trigger)
    assert proc.returncode == 2
    line = _one_error_line(proc.stderr)
    assert message in line and "triggers are: start" in line


def test_two_triggers_and_none_named(cli: Any, write_flow: WriteFlow) -> None:
    path = write_flow(
        [
            node("a", "trigger.webhook", {"path": "/a"}),
            node("b", "trigger.webhook", {"path": "/b"}),
        ],
        [],
    )
    result = cli("run", path)
    assert result.exit_code == 2
    assert "name one with --trigger" in result.stderr


def test_unwritable_events_file(plait_proc: Any, tmp_path: Path) -> None:
    proc = plait_proc("run", HELLO, "--events", tmp_path)  # a directory
    assert proc.returncode == 2
    assert "is a directory" in _one_error_line(proc.stderr)


def test_usage_error_from_the_parser_exits_2(cli: Any) -> None:
    assert cli("run").exit_code == 2
    assert cli("compile", HELLO).exit_code == 2  # -o is required
    assert cli("frobnicate").exit_code == 2


def test_lone_surrogate_in_a_flow(plait_proc: Any, tmp_path: Path) -> None:
    # JSON can spell a lone surrogate; UTF-8 cannot hold it, so bundles and events
    # could not be written. The CLI refuses it up front, saying where it is.
    text = HELLO.read_text().replace("Hello", "Hello \\ud800")
    path = tmp_path / "surrogate.json"
    path.write_text(text)
    proc = plait_proc("run", path)
    assert proc.returncode == 2
    line = _one_error_line(proc.stderr)
    assert "lone surrogate" in line and "nodes.1.params.template" in line


def test_lone_surrogate_in_the_input(plait_proc: Any) -> None:
    proc = plait_proc("run", HELLO, "--input", '{"name": "\\udc80"}')
    assert proc.returncode == 2
    assert "--input holds a lone surrogate" in _one_error_line(proc.stderr)
