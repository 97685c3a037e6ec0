"""The compiler and the bundle format (ARCHITECTURE.md §5, "Compile").

A bundle is ``flow.json`` + ``flow.py`` + ``manifest.json``; its id is the SHA-256 of the
canonical manifest. These tests pin down determinism, tamper detection, the shape of the
generated code and what the manifest says. ``test_hostile.py`` throws hostile strings at
the same code.
"""

from __future__ import annotations

import ast
import asyncio
import hashlib
import io
import json
import keyword
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, JsonValue

import testnodes
from flowkit import RecordingRuntime, step_result
from plait.node_runner.compiler import (
    FILES,
    Bundle,
    CompileError,
    build_bundle,
    bundle_from_files,
    compile_flow,
    pylit,
    read_bundle,
    render_flow_module,
    step_function_names,
)
from plait.node_runner.engine import Executor
from plait.node_runner.errors import BundleError
from plait.node_runner.execution_plan import load_module, load_plan
from plait.node_runner.flow import Flow, RetryPolicy, canonical_json, dump_flow, load_flow
from plait.node_runner.registry import NodeRegistry
from plait.node_runner.sdk import Node, NodeSpec, RunContext

TESTS = Path(__file__).parent

# -- node types only these tests need ----------------------------------------------------
# node_runner's tests do not import plait.nodes, so the trigger types whose ids the
# compiler knows about (routes, schedules) get stand-ins here, in their own registry.


class Webhook(Node):
    """Stand-in for the webhook trigger: the compiler reads only its type id and params."""

    spec = NodeSpec(
        type="trigger.webhook", version=1, title="Webhook", category="trigger", trigger=True
    )

    class Params(BaseModel):
        method: str = "GET"
        path: str = "/"
        mode: Literal["sync", "async"] = "sync"

    class Outputs(BaseModel):
        body: JsonValue = None
        path_params: dict[str, JsonValue] = {}

    async def run(self, inputs: Any, ctx: RunContext) -> Any:
        return self.Outputs(body=ctx.trigger_payload)


class Schedule(Node):
    """Stand-in for the cron trigger."""

    spec = NodeSpec(
        type="trigger.schedule", version=1, title="Schedule", category="trigger", trigger=True
    )

    class Params(BaseModel):
        cron: str
        timezone: str = "UTC"

    class Outputs(BaseModel):
        fired_at: str | None = None

    async def run(self, inputs: Any, ctx: RunContext) -> Any:
        return self.Outputs()


class EchoV2(testnodes.Echo):
    """Version 2 of ``test.echo``: both versions stay registered."""

    spec = testnodes.Echo.spec.model_copy(update={"version": 2})


REGISTRY = testnodes.registry()
TRIGGERS = NodeRegistry([*testnodes.ALL, Webhook, Schedule, EchoV2])


# -- helpers -----------------------------------------------------------------------------


def node(node_id: str, type_: str = "test.echo", **fields: Any) -> dict[str, Any]:
    return {"id": node_id, "type": type_, **fields}


def edge(
    edge_id: str,
    source: str,
    target: str,
    source_port: str = "output",
    target_port: str = "input",
    **fields: Any,
) -> dict[str, Any]:
    return {
        "id": edge_id,
        "source": source,
        "source_port": source_port,
        "target": target,
        "target_port": target_port,
        **fields,
    }


def make_flow(
    nodes: list[dict[str, Any]], edges: Sequence[dict[str, Any]] = (), **extra: Any
) -> Flow:
    return load_flow({"name": "test", "nodes": nodes, "edges": list(edges), **extra})


def rich_document() -> dict[str, Any]:
    """A flow that uses most of what the compiler emits, with dict keys out of order."""
    return {
        "schema_version": 1,
        "name": "Rich — ünïcode ✓",
        "description": "Every feature the compiler renders",
        "timeout_s": 60,
        "max_concurrency": 4,
        "meta": {"z": 1, "a": [3, 2, 1]},
        "nodes": [
            node("start", "test.start", position={"x": 10, "y": -5.5}),
            node(
                "shout",
                params={"value": {"zeta": [1, 2.5, None, True], "alpha": "ä\n'\"", "mid": {}}},
                retry={"max_attempts": 3, "backoff": "exponential", "delay_s": 0.25},
                timeout_s=10,
                title="Shout it",
            ),
            node("quiet", "test.text", params={"text": "{{ inputs.input.alpha }}"}),
            node("all", "test.collect", join="any"),
            node("pick", "test.mode", params={"mode": "first"}),
        ],
        "edges": [
            edge("e1", "start", "shout", "payload"),
            edge("e2", "shout", "quiet"),
            edge("e4", "quiet", "all", "text", "items"),
            edge("e3", "shout", "all", "output", "items"),
            edge("e5", "all", "pick", "items", "inputs"),
        ],
    }


def rich_flow() -> Flow:
    return load_flow(rich_document())


def with_file(bundle: Bundle, name: str, data: bytes) -> dict[str, bytes]:
    """The bundle's files with one of them replaced."""
    return {**bundle.files, name: data}


def rehash(files: dict[str, bytes]) -> dict[str, bytes]:
    """What an attacker with write access to the store does: recompute digests and id."""
    manifest = json.loads(files["manifest.json"])
    for name in ("flow.json", "flow.py"):
        manifest["files"][name] = "sha256:" + hashlib.sha256(files[name]).hexdigest()
    body = {k: v for k, v in manifest.items() if k != "id"}
    manifest["id"] = hashlib.sha256(canonical_json(body).encode()).hexdigest()
    return {**files, "manifest.json": canonical_json(manifest).encode()}


# -- determinism -------------------------------------------------------------------------


def test_the_same_flow_compiles_to_the_same_bytes_and_id() -> None:
    first = compile_flow(rich_flow(), REGISTRY)
    second = compile_flow(rich_flow(), REGISTRY)
    assert first.id == second.id
    assert first.files == second.files
    assert build_bundle(rich_flow(), REGISTRY) == first


def test_text_bytes_key_order_and_whitespace_of_the_document_do_not_change_the_bundle() -> None:
    document = rich_document()
    shuffled = json.loads(json.dumps(document), object_hook=lambda d: dict(reversed(d.items())))
    assert list(shuffled) != list(document)
    texts = [json.dumps(document), json.dumps(shuffled, indent=7), json.dumps(document).encode()]
    bundles = [compile_flow(text, REGISTRY) for text in texts]
    bundles.append(compile_flow(shuffled, REGISTRY))
    assert {b.id for b in bundles} == {compile_flow(rich_flow(), REGISTRY).id}


def test_a_different_flow_gets_a_different_id() -> None:
    document = rich_document()
    document["nodes"][1]["params"]["value"]["alpha"] = "b"
    assert compile_flow(document, REGISTRY).id != compile_flow(rich_flow(), REGISTRY).id


def test_the_id_is_the_sha256_of_the_canonical_manifest_without_its_id() -> None:
    bundle = compile_flow(rich_flow(), REGISTRY)
    manifest = json.loads(bundle.files["manifest.json"])
    assert bundle.files["manifest.json"] == canonical_json(manifest).encode()
    assert manifest["id"] == bundle.id
    body = {k: v for k, v in manifest.items() if k != "id"}
    assert bundle.id == hashlib.sha256(canonical_json(body).encode()).hexdigest()
    assert len(bundle.id) == 64
    assert set(bundle.id) <= set("0123456789abcdef")


def test_flow_json_is_the_canonical_source() -> None:
    bundle = compile_flow(rich_flow(), REGISTRY)
    assert bundle.files["flow.json"] == dump_flow(rich_flow()).encode()
    assert bundle.flow == rich_flow()


def test_zip_bytes_are_the_same_every_time() -> None:
    first = compile_flow(rich_flow(), REGISTRY).to_zip()
    second = compile_flow(rich_flow(), REGISTRY).to_zip()
    assert first == second
    with zipfile.ZipFile(io.BytesIO(first)) as zf:
        assert zf.namelist() == list(FILES)
        assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}


_SUBPROCESS_COMPILE = """
import hashlib, json, sys
import testnodes
from plait.node_runner.compiler import compile_flow
bundle = compile_flow(sys.stdin.read(), testnodes.registry())
print(json.dumps({
    "id": bundle.id,
    "files": {n: hashlib.sha256(d).hexdigest() for n, d in sorted(bundle.files.items())},
    "zip": hashlib.sha256(bundle.to_zip()).hexdigest(),
}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("hash_seed", ["0", "4242"])
def test_a_fresh_process_with_another_hash_seed_compiles_the_same_bytes(hash_seed: str) -> None:
    bundle = compile_flow(rich_flow(), REGISTRY)
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(TESTS)}
    done = subprocess.run(
        [sys.executable, "-c", _SUBPROCESS_COMPILE],
        input=json.dumps(rich_document()),
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert json.loads(done.stdout) == {
        "id": bundle.id,
        "files": {n: hashlib.sha256(d).hexdigest() for n, d in sorted(bundle.files.items())},
        "zip": hashlib.sha256(bundle.to_zip()).hexdigest(),
    }


def test_write_dir_and_read_bundle_round_trip(tmp_path: Path) -> None:
    bundle = compile_flow(rich_flow(), REGISTRY)
    out = bundle.write_dir(tmp_path / "bundle")
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    again = read_bundle(out, expected_id=bundle.id)
    assert again == bundle
    assert again.manifest == bundle.manifest
    assert again.flow == rich_flow()


def test_read_bundle_reads_a_zip(tmp_path: Path) -> None:
    bundle = compile_flow(rich_flow(), REGISTRY)
    path = bundle.write_zip(tmp_path / "deep" / "bundle.zip")
    again = read_bundle(path, expected_id=bundle.id)
    assert again == bundle
    assert again.to_zip() == path.read_bytes()


def test_a_read_bundle_runs() -> None:
    bundle = bundle_from_files(compile_flow(rich_flow(), REGISTRY).files)
    result = asyncio.run(Executor(REGISTRY).run(bundle, {"k": "v"}))
    assert result.succeeded
    assert result.output("quiet", "text") == "ä\n'\""


# -- tampering ---------------------------------------------------------------------------

_JSON_WHITESPACE = b" \t\n\r"


def byte_changes(data: bytes) -> Iterator[tuple[int, bytes]]:
    """For every position, a few other bytes: bit flips, and the other JSON whitespace."""
    for i, old in enumerate(data):
        replacements = {old ^ 0x01, old ^ 0x20}
        if old in _JSON_WHITESPACE:
            replacements |= set(_JSON_WHITESPACE)
        for new in sorted(replacements - {old}):
            yield i, data[:i] + bytes([new]) + data[i + 1 :]


@pytest.mark.parametrize("name", FILES)
def test_changing_any_byte_of_any_file_is_refused(name: str) -> None:
    bundle = compile_flow(rich_flow(), REGISTRY)
    accepted = []
    for i, changed in byte_changes(bundle.files[name]):
        try:
            bundle_from_files(with_file(bundle, name, changed))
        except BundleError:
            continue
        accepted.append((i, changed[i : i + 1]))
    assert accepted == []


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_read_bundle_refuses_a_changed_byte_on_disk(tmp_path: Path, name: str, where: str) -> None:
    out = compile_flow(rich_flow(), REGISTRY).write_dir(tmp_path)
    data = bytearray((out / name).read_bytes())
    data[{"first": 0, "middle": len(data) // 2, "last": -1}[where]] ^= 0x01
    (out / name).write_bytes(bytes(data))
    with pytest.raises(BundleError):
        read_bundle(out)


@pytest.mark.parametrize(
    "manifest",
    [
        pytest.param(lambda m: m + b"\n", id="trailing-newline"),
        pytest.param(lambda m: m.rstrip(b"\n"), id="no-final-newline"),
        pytest.param(
            lambda m: canonical_json(json.loads(m)).encode().replace(b"  ", b"\t"), id="tabs"
        ),
        pytest.param(lambda m: json.dumps(json.loads(m)).encode(), id="compact"),
        pytest.param(lambda m: json.dumps(json.loads(m), ensure_ascii=True).encode(), id="ascii"),
    ],
)
def test_a_manifest_that_parses_the_same_but_is_not_canonical_is_refused(
    manifest: Callable[[bytes], bytes],
) -> None:
    # Otherwise two different byte strings would carry the same bundle id.
    bundle = compile_flow(rich_flow(), REGISTRY)
    changed = manifest(bundle.files["manifest.json"])
    assert changed != bundle.files["manifest.json"]
    assert json.loads(changed) == bundle.manifest
    with pytest.raises(BundleError):
        bundle_from_files(with_file(bundle, "manifest.json", changed))


@pytest.mark.parametrize(
    "manifest",
    [b"", b"not json", b"[]", b'"x"', b"null", b'{"files": []}', b'{"files": {"flow.py": 1}}'],
)
def test_a_manifest_that_is_not_one_is_refused(manifest: bytes) -> None:
    bundle = compile_flow(rich_flow(), REGISTRY)
    with pytest.raises(BundleError):
        bundle_from_files(with_file(bundle, "manifest.json", manifest))


@pytest.mark.parametrize("missing", FILES)
def test_bundle_files_must_all_be_there(missing: str) -> None:
    files = dict(compile_flow(rich_flow(), REGISTRY).files)
    del files[missing]
    with pytest.raises(BundleError):
        bundle_from_files(files)


def test_bundle_files_must_be_only_those() -> None:
    files = {**compile_flow(rich_flow(), REGISTRY).files, "extra.py": b"import os\n"}
    with pytest.raises(BundleError):
        bundle_from_files(files)


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize(
    "entries",
    [
        pytest.param(lambda f: {**f, "extra.txt": b"hello"}, id="extra-file"),
        pytest.param(lambda f: {**f, "sub/flow.py": f["flow.py"]}, id="extra-nested-file"),
        pytest.param(lambda f: {k: v for k, v in f.items() if k != "flow.py"}, id="missing"),
        pytest.param(lambda f: {}, id="empty"),
    ],
)
def test_a_zip_that_does_not_hold_exactly_the_bundle_files_is_refused(
    tmp_path: Path, entries: Callable[[dict[str, bytes]], dict[str, bytes]]
) -> None:
    bundle = compile_flow(rich_flow(), REGISTRY)
    path = tmp_path / "bundle.zip"
    path.write_bytes(_zip(entries(dict(bundle.files))))
    with pytest.raises(BundleError):
        read_bundle(path)


def test_a_zip_with_the_right_files_in_another_order_is_read(tmp_path: Path) -> None:
    bundle = compile_flow(rich_flow(), REGISTRY)
    path = tmp_path / "bundle.zip"
    path.write_bytes(_zip(dict(reversed(bundle.files.items()))))
    assert read_bundle(path) == bundle


def test_read_bundle_refuses_what_is_not_a_bundle(tmp_path: Path) -> None:
    (tmp_path / "junk.zip").write_bytes(b"PK not really")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "flow.json").write_bytes(b"{}")
    for path in (tmp_path / "junk.zip", tmp_path / "half", tmp_path / "nothing-here"):
        with pytest.raises(BundleError):
            read_bundle(path)


def test_expected_id_must_match(tmp_path: Path) -> None:
    bundle = compile_flow(rich_flow(), REGISTRY)
    other = compile_flow(make_flow([node("start", "test.start")]), REGISTRY)
    out = bundle.write_dir(tmp_path)
    assert read_bundle(out, expected_id=bundle.id) == bundle
    with pytest.raises(BundleError, match="expected"):
        read_bundle(out, expected_id=other.id)
    with pytest.raises(BundleError):
        bundle_from_files(bundle.files, expected_id=bundle.id.upper())


def test_altered_flow_py_with_consistent_digests_is_refused_before_it_runs(
    tmp_path: Path,
) -> None:
    sentinel = tmp_path / "SENTINEL"
    bundle = compile_flow(rich_flow(), REGISTRY)
    code = f"__import__('pathlib').Path({str(sentinel)!r}).touch()\n"
    files = rehash(with_file(bundle, "flow.py", bundle.files["flow.py"] + code.encode()))
    store = tmp_path / "store"
    store.mkdir()
    for name, data in files.items():
        (store / name).write_bytes(data)
    # The store cannot tell: digests and id are consistent, as if it had been compiled...
    forged = read_bundle(store)
    assert forged.id != bundle.id
    # ...but flow.py is not what the compiler makes of flow.json, so it never executes.
    with pytest.raises(BundleError, match=r"flow\.py is not what this compiler makes"):
        load_plan(forged, REGISTRY)
    with pytest.raises(BundleError):
        asyncio.run(Executor(REGISTRY).run(forged, {}))
    assert not sentinel.exists()


def test_altered_flow_json_with_consistent_digests_is_refused() -> None:
    bundle = compile_flow(rich_flow(), REGISTRY)
    document = json.loads(bundle.files["flow.json"])
    document["nodes"][2]["params"]["text"] = "something else"
    altered = canonical_json(document).encode()
    forged = bundle_from_files(rehash(with_file(bundle, "flow.json", altered)))
    with pytest.raises(BundleError):
        load_plan(forged, REGISTRY)


def test_an_untouched_bundle_passes_source_verification() -> None:
    bundle = compile_flow(rich_flow(), REGISTRY)
    plan = load_plan(bundle, REGISTRY)
    assert plan.bundle_id == bundle.id
    assert list(plan.nodes) == [n.id for n in rich_flow().nodes]


# -- flow.py is readable, and only data --------------------------------------------------


def test_flow_py_parses_and_has_one_step_function_per_node_in_node_order() -> None:
    flow = rich_flow()
    source = compile_flow(flow, REGISTRY).source
    tree = ast.parse(source)
    functions = [s for s in tree.body if isinstance(s, ast.AsyncFunctionDef)]
    names = step_function_names(n.id for n in flow.nodes)
    assert [f.name for f in functions] == [names[n.id] for n in flow.nodes]
    assert [f.name for f in functions] == [
        "step_start",
        "step_shout",
        "step_quiet",
        "step_all",
        "step_pick",
    ]
    for n in flow.nodes:
        assert f"# Node {n.id!r}: {n.type!r} v{n.version}\n" in source


def test_flow_py_top_level_is_only_the_import_the_constants_and_the_steps() -> None:
    tree = ast.parse(compile_flow(rich_flow(), REGISTRY).source)
    first, *rest = tree.body
    assert isinstance(first, ast.ImportFrom)
    assert (first.module, first.level) == ("plait.node_runner.plan", 0)
    assigned = []
    for statement in rest:
        if isinstance(statement, ast.Assign):
            [target] = statement.targets
            assert isinstance(target, ast.Name)
            assigned.append(target.id)
        else:
            assert isinstance(statement, ast.AsyncFunctionDef), ast.dump(statement)
    assert assigned == ["FLOW_NAME", "TIMEOUT_S", "MAX_CONCURRENCY", "NODES", "EDGES", "STEPS"]
    imports = [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
    assert imports == [first]


def test_flow_py_starts_with_the_do_not_edit_header() -> None:
    source = compile_flow(rich_flow(), REGISTRY).source
    assert source.startswith("# Generated by Plait ")
    assert "Do not edit" in source.splitlines()[0]
    assert source.endswith("\n")


def test_the_module_holds_the_flow_as_data() -> None:
    flow = rich_flow()
    module = load_module(compile_flow(flow, REGISTRY))
    assert flow.name == module.FLOW_NAME
    assert module.TIMEOUT_S == flow.timeout_s == 60
    assert module.MAX_CONCURRENCY == 4
    assert list(module.NODES) == [n.id for n in flow.nodes]
    for n in flow.nodes:
        plan = module.NODES[n.id]
        assert (plan.type, plan.version, plan.params) == (n.type, n.version, n.params)
        assert (plan.retry, plan.timeout_s, plan.on_error) == (n.retry, n.timeout_s, n.on_error)
    assert module.NODES["all"].join == "any"
    assert module.NODES["pick"].join == "first"  # its join is its ``mode`` param
    assert module.NODES["start"].join == "all"
    assert [
        (e.id, e.source, e.source_port, e.target, e.target_port, e.kind) for e in module.EDGES
    ] == [(e.id, e.source, e.source_port, e.target, e.target_port, e.kind) for e in flow.edges]
    names = step_function_names(n.id for n in flow.nodes)
    assert {k: f.__name__ for k, f in module.STEPS.items()} == names


def test_step_functions_bind_their_inputs_from_upstream_edges() -> None:
    module = load_module(compile_flow(rich_flow(), REGISTRY))
    runtime = RecordingRuntime()
    bound = {node_id: step_result(step, runtime) for node_id, step in module.STEPS.items()}
    assert bound == {
        "start": ("start", {}),
        "shout": ("shout", {"input": ("one", "e1")}),
        "quiet": ("quiet", {"input": ("one", "e2")}),
        "all": ("all", {"items": ("many", ("e4", "e3"))}),
        "pick": ("pick", {"inputs": ("many", ("e5",))}),
    }


def test_service_edges_are_not_bound_as_inputs() -> None:
    flow = make_flow(
        [node("start", "test.start"), node("agent", "test.agent"), node("tool")],
        [
            edge("d", "start", "agent", "payload"),
            edge("t", "tool", "agent", "output", "tools", kind="tool"),
        ],
    )
    module = load_module(compile_flow(flow, REGISTRY))
    assert step_result(module.STEPS["agent"], RecordingRuntime()) == (
        "agent",
        {"input": ("one", "d")},
    )
    assert [e.kind for e in module.EDGES] == ["data", "tool"]


@pytest.mark.parametrize(
    ("ids", "expected"),
    [
        (["send-mail"], ["step_send_mail"]),
        (["Send Mail!"], ["step_send_mail"]),
        (["a", "A", "a_2"], ["step_a", "step_a_2", "step_a_2_2"]),
        (["a b", "a-b", "a.b", "a_b"], ["step_a_b", "step_a_b_2", "step_a_b_3", "step_a_b_4"]),
        (["", "日本語", "🎉", "__"], ["step_node", "step_node_2", "step_node_3", "step_node_4"]),
        (
            ["class", "None", "def", "import"],
            ["step_class", "step_none", "step_def", "step_import"],
        ),
        (["1st"], ["step_1st"]),
        (["x" * 100], ["step_" + "x" * 40]),
        (["crème brûlée"], ["step_cr_me_br_l_e"]),
        (["a'); import os; ('"], ["step_a_import_os"]),
    ],
)
def test_step_function_names(ids: list[str], expected: list[str]) -> None:
    assert list(step_function_names(ids).values()) == expected


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(st.lists(st.text(max_size=60), unique=True, max_size=30))
def test_step_function_names_are_unique_ascii_identifiers(ids: list[str]) -> None:
    names = step_function_names(ids)
    assert list(names) == ids
    assert len(set(names.values())) == len(ids)
    for name in names.values():
        assert name.isascii()
        assert name.isidentifier()
        assert not keyword.iskeyword(name)
        assert name.startswith("step_")
    assert step_function_names(ids) == names


@pytest.mark.parametrize(
    "value", [None, True, False, 0, -1, 2**80, 0.1, -0.0, 1e300, "", "x", "'\"\\\n\x00\u2028"]
)
def test_pylit_round_trips_through_literal_eval(value: Any) -> None:
    text = pylit(value)
    assert ast.literal_eval(text) == value
    assert type(ast.literal_eval(text)) is type(value)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), [], {}, (), b"x"])
def test_pylit_refuses_what_is_not_a_scalar_literal(value: Any) -> None:
    with pytest.raises(BundleError):
        pylit(value)


# -- manifest ----------------------------------------------------------------------------


def trigger_flow() -> Flow:
    return make_flow(
        [
            node("hook", "trigger.webhook", params={"method": "POST", "path": "/orders/{id:int}"}),
            node("plain", "trigger.webhook"),
            node("later", "trigger.webhook", params={"path": "/jobs", "mode": "async"}),
            node(
                "cron",
                "trigger.schedule",
                params={"cron": "0 9 * * 1-5", "timezone": "Europe/Paris"},
            ),
            node("nightly", "trigger.schedule", params={"cron": "0 0 * * *"}),
            node("start", "test.start"),
            node("old", version=1),
            node("new", version=2),
            node("again", version=1),
        ],
        [
            edge("e1", "hook", "old", "body"),
            edge("e2", "plain", "new", "body"),
            edge("e3", "cron", "again", "fired_at"),
        ],
        name="Triggers",
    )


def test_manifest_lists_node_types_triggers_routes_and_schedules() -> None:
    bundle = compile_flow(trigger_flow(), TRIGGERS)
    manifest = bundle.manifest
    assert manifest["bundle_format"] == 1
    assert manifest["compiler"].startswith("plait-node-runner ")
    assert manifest["flow"] == {"name": "Triggers", "schema_version": 1}
    assert manifest["id"] == bundle.id
    assert manifest["nodes"] == [
        {"id": n.id, "type": n.type, "version": n.version} for n in trigger_flow().nodes
    ]
    assert manifest["node_types"] == [
        {"type": "test.echo", "version": 1},
        {"type": "test.echo", "version": 2},
        {"type": "test.start", "version": 1},
        {"type": "trigger.schedule", "version": 1},
        {"type": "trigger.webhook", "version": 1},
    ]
    assert manifest["triggers"] == [
        {"node_id": "hook", "type": "trigger.webhook", "version": 1},
        {"node_id": "plain", "type": "trigger.webhook", "version": 1},
        {"node_id": "later", "type": "trigger.webhook", "version": 1},
        {"node_id": "cron", "type": "trigger.schedule", "version": 1},
        {"node_id": "nightly", "type": "trigger.schedule", "version": 1},
        {"node_id": "start", "type": "test.start", "version": 1},
    ]
    assert manifest["routes"] == [
        {"node_id": "hook", "method": "POST", "path": "/orders/{id:int}", "mode": "sync"},
        {"node_id": "plain", "method": "GET", "path": "/", "mode": "sync"},
        {"node_id": "later", "method": "GET", "path": "/jobs", "mode": "async"},
    ]
    assert manifest["schedules"] == [
        {"node_id": "cron", "cron": "0 9 * * 1-5", "timezone": "Europe/Paris"},
        {"node_id": "nightly", "cron": "0 0 * * *", "timezone": "UTC"},
    ]


def test_manifest_digests_are_those_of_the_files() -> None:
    bundle = compile_flow(trigger_flow(), TRIGGERS)
    assert bundle.manifest["files"] == {
        name: "sha256:" + hashlib.sha256(bundle.files[name]).hexdigest()
        for name in ("flow.json", "flow.py")
    }


def test_a_flow_without_webhooks_or_schedules_has_no_routes_or_schedules() -> None:
    manifest = compile_flow(rich_flow(), REGISTRY).manifest
    assert manifest["triggers"] == [{"node_id": "start", "type": "test.start", "version": 1}]
    assert manifest["routes"] == []
    assert manifest["schedules"] == []


# -- compile_flow ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "code"),
    [
        pytest.param(
            {"nodes": [node("start", "test.start"), node("x", "test.nope")]},
            "unknown_node_type",
            id="unknown-type",
        ),
        pytest.param(
            {
                "nodes": [node("start", "test.start"), node("a")],
                "edges": [edge("e", "start", "a", "nope")],
            },
            "missing_port",
            id="missing-port",
        ),
        pytest.param(
            {
                "nodes": [node("start", "test.start"), node("a"), node("b")],
                "edges": [
                    edge("e0", "start", "a", "payload"),
                    edge("e1", "a", "b"),
                    edge("e2", "b", "a"),
                ],
            },
            "cycle",
            id="cycle",
        ),
        pytest.param({"nodes": [node("a")]}, "no_trigger", id="no-trigger"),
        pytest.param(
            {"nodes": [node("start", "test.start"), node("a", params={"value": "{{ 1 + }}"})]},
            "bad_expression",
            id="bad-expression",
        ),
    ],
)
def test_compile_flow_on_an_invalid_flow_raises_with_the_problems(
    document: dict[str, Any], code: str
) -> None:
    with pytest.raises(CompileError) as caught:
        compile_flow({"name": "bad", **document}, REGISTRY)
    problems = caught.value.problems
    assert problems
    assert code in {p.code for p in problems}
    errors = [p for p in problems if p.severity == "error"]
    assert errors[0].message in str(caught.value)
    assert f"{len(errors)} error" in str(caught.value)


def test_warnings_do_not_stop_compiling() -> None:
    flow = make_flow([node("start", "test.start"), node("island")])  # unreachable: a warning
    assert compile_flow(flow, REGISTRY).manifest["nodes"][1]["id"] == "island"


# -- what reaches the plan ---------------------------------------------------------------


def test_multi_edge_inputs_keep_edge_order_not_node_order() -> None:
    flow = make_flow(
        [
            node("start", "test.start"),
            node("one", params={"value": 1}),
            node("two", params={"value": 2}),
            node("three", params={"value": 3}),
            node("all", "test.collect"),
        ],
        [
            edge("s1", "start", "one", "payload"),
            edge("s2", "start", "two", "payload"),
            edge("s3", "start", "three", "payload"),
            edge("z", "three", "all", target_port="items"),
            edge("a", "one", "all", target_port="items"),
            edge("m", "two", "all", target_port="items"),
        ],
    )
    bundle = compile_flow(flow, REGISTRY)
    assert "rt.many(('z', 'a', 'm'))" in bundle.source
    plan = load_plan(bundle, REGISTRY)
    assert [e.id for e in plan.nodes["all"].in_edges] == ["z", "a", "m"]
    result = asyncio.run(Executor(REGISTRY).run(bundle))
    assert result.output("all", "items") == [3, 1, 2]


retry_policies = st.builds(
    RetryPolicy,
    max_attempts=st.integers(1, 100),
    backoff=st.sampled_from(["fixed", "exponential"]),
    delay_s=st.floats(0, 86400),
    max_delay_s=st.floats(0, 86400),
    jitter=st.floats(0, 1),
    retry_on=st.one_of(
        st.just(RetryPolicy().retry_on),
        st.lists(
            st.sampled_from(["timeout", "connection", "http_status:5xx", "x"]), max_size=3
        ).map(tuple),
    ),
)


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(
    retry=retry_policies,
    timeout_s=st.none() | st.floats(min_value=0.001, max_value=7 * 86400),
    on_error=st.sampled_from(["stop", "continue", "error_port"]),
    join=st.sampled_from([None, "all", "any", "first"]),
)
def test_retry_timeout_on_error_and_join_round_trip_into_the_plan(
    retry: RetryPolicy, timeout_s: float | None, on_error: str, join: str | None
) -> None:
    flow = make_flow(
        [
            node("start", "test.start"),
            node(
                "work",
                retry=retry.model_dump(),
                timeout_s=timeout_s,
                on_error=on_error,
                join=join,
            ),
        ],
        [edge("e", "start", "work", "payload")],
    )
    work = flow.node("work")
    assert work is not None and work.retry == retry
    plan = load_plan(compile_flow(flow, REGISTRY), REGISTRY).nodes["work"].plan
    assert plan.retry == work.retry
    assert plan.timeout_s == work.timeout_s
    assert plan.on_error == on_error
    assert plan.join == (join or "all")


def test_default_retry_is_not_written_out() -> None:
    source = compile_flow(make_flow([node("start", "test.start")]), REGISTRY).source
    assert "retry(" not in source.split("NODES = {", 1)[1]


@pytest.mark.parametrize("retry_on", [(), ("timeout",), ("timeout", "connection")])
def test_short_retry_on_tuples_stay_tuples(retry_on: tuple[str, ...]) -> None:
    flow = make_flow([node("start", "test.start", retry={"retry_on": list(retry_on)})])
    plan = load_plan(compile_flow(flow, REGISTRY), REGISTRY)
    assert plan.nodes["start"].plan.retry.retry_on == retry_on


def test_render_flow_module_is_what_the_bundle_holds() -> None:
    flow = rich_flow()
    assert (
        render_flow_module(flow, REGISTRY).encode() == compile_flow(flow, REGISTRY).files["flow.py"]
    )


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=50, deadline=None, derandomize=True, database=None)
@given(value=json_values)
def test_flow_json_re_renders_to_the_same_flow_py(value: Any) -> None:
    """Source verification holds for any params: flow.json to flow.py is a pure function."""
    flow = make_flow([node("start", "test.start"), node("a", params={"value": value})])
    bundle = build_bundle(flow, REGISTRY)
    assert render_flow_module(bundle.flow, REGISTRY).encode() == bundle.files["flow.py"]
    assert load_module(bundle).NODES["a"].params == {"value": value}
