"""The flow document: canonical text, clear errors on bad input, and its JSON Schema."""

from __future__ import annotations

import importlib.util
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plait.node_runner.errors import FlowError
from plait.node_runner.flow import (
    MAX_FLOW_BYTES,
    Flow,
    dump_flow,
    flow_json_schema,
    flow_to_dict,
    load_flow,
)

# The example of ARCHITECTURE.md §3 in canonical form, with some non-ASCII text kept as is.
CANONICAL = """\
{
  "edges": [
    {
      "id": "e1",
      "source": "hook",
      "source_port": "path_params",
      "target": "reply",
      "target_port": "input"
    }
  ],
  "name": "Grüße ✓ — 問候",
  "nodes": [
    {
      "id": "hook",
      "params": {
        "method": "GET",
        "path": "/hello/{name}"
      },
      "type": "trigger.webhook",
      "version": 1
    },
    {
      "id": "reply",
      "params": {
        "body": "Hello {{ inputs.input.name }} 👋",
        "status": 200
      },
      "position": {
        "x": 300.0
      },
      "retry": {
        "backoff": "exponential",
        "delay_s": 0.5,
        "max_attempts": 3
      },
      "timeout_s": 10.0,
      "type": "http.respond",
      "version": 1
    }
  ],
  "schema_version": 1
}
"""

# The same flow as an editor might send it: compact, unsorted, escaped, defaults spelled out.
NON_CANONICAL = (
    '{"schema_version":1,"name":"Gr\\u00fc\\u00dfe \\u2713 \\u2014 \\u554f\\u5019",'
    '"description":null,"max_concurrency":16,"meta":{},"timeout_s":null,'
    '"nodes":[{"type":"trigger.webhook","id":"hook","position":{"x":0,"y":0},'
    '"params":{"path":"/hello/{name}","method":"GET"},"on_error":"stop","join":null,'
    '"retry":{"max_attempts":1},"meta":{},"title":null},'
    '{"id":"reply","type":"http.respond","version":1,"position":{"x":300,"y":0},'
    '"params":{"status":200,"body":"Hello {{ inputs.input.name }} \\ud83d\\udc4b"},'
    '"retry":{"max_attempts":3,"backoff":"exponential","delay_s":0.5},"timeout_s":10}],'
    '"edges":[{"id":"e1","source":"hook","source_port":"path_params","target":"reply",'
    '"target_port":"input","kind":"data"}]}'
)


# -- canonical text ---------------------------------------------------------------------


def test_canonical_text_round_trips_byte_for_byte() -> None:
    assert dump_flow(load_flow(CANONICAL)) == CANONICAL
    assert dump_flow(load_flow(CANONICAL.encode())).encode() == CANONICAL.encode()


def test_non_canonical_input_dumps_to_the_canonical_form() -> None:
    assert dump_flow(load_flow(NON_CANONICAL)) == CANONICAL
    assert load_flow(NON_CANONICAL) == load_flow(CANONICAL)


def test_canonical_form_shape() -> None:
    text = dump_flow(load_flow(NON_CANONICAL))
    assert text.endswith("}\n") and not text.endswith("\n\n")
    assert '\n  "edges": [' in text  # two-space indent
    assert "✓" in text and "\\u" not in text  # unicode kept, not escaped
    # Keys sorted at every level: re-sorting changes nothing.
    assert json.dumps(json.loads(text), sort_keys=True, indent=2, ensure_ascii=False) + "\n" == text


def test_defaults_are_left_out_but_schema_version_and_node_version_stay() -> None:
    flow = load_flow(
        {
            "name": "x",
            "max_concurrency": 16,
            "nodes": [
                {
                    "id": "a",
                    "type": "test.echo",
                    "position": {"x": 0, "y": 0},
                    "params": {},
                    "on_error": "stop",
                    "retry": {"max_attempts": 1, "backoff": "fixed"},
                }
            ],
        }
    )
    assert flow_to_dict(flow) == {
        "schema_version": 1,
        "name": "x",
        "nodes": [{"id": "a", "type": "test.echo", "version": 1}],
        "edges": [],
    }


def test_param_values_keep_their_json_types() -> None:
    params = {"i": 1, "f": 1.0, "big": 10**30, "neg0": -0.0, "none": None, "list": [True, "s"]}
    flow = load_flow({"name": "x", "nodes": [{"id": "a", "type": "t.x", "params": params}]})
    again = load_flow(dump_flow(flow))
    assert again.nodes[0].params == params
    assert type(again.nodes[0].params["i"]) is int
    assert type(again.nodes[0].params["f"]) is float


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"name": "x",', "not valid JSON"),
        ('{"name": "x"}\n{', "line 2, column 1"),
        ("", "not valid JSON"),
        ('{"name": "x", "meta": {"v": NaN}}', "NaN is not valid JSON"),
        ('{"name": "x", "meta": {"v": -Infinity}}', "-Infinity is not valid JSON"),
        (b'{"name": "\xff"}', "not valid UTF-8"),
    ],
)
def test_bad_json_is_a_clear_flow_error(text: str | bytes, expected: str) -> None:
    with pytest.raises(FlowError, match=expected) as info:
        load_flow(text)
    assert "\n" not in str(info.value)
    assert "Traceback" not in str(info.value)


@pytest.mark.parametrize("text", ["[]", '"flow"', "null", "3"])
def test_a_document_must_be_an_object(text: str) -> None:
    with pytest.raises(FlowError, match="must be a JSON object"):
        load_flow(text)


def test_a_document_too_large() -> None:
    text = " " * (MAX_FLOW_BYTES + 1)
    with pytest.raises(FlowError, match=f"the limit is {MAX_FLOW_BYTES} bytes"):
        load_flow(text)


def test_a_document_nested_too_deeply_to_read() -> None:
    depth = 100_000
    text = '{"name": "x", "meta": {"v": ' + "[" * depth + "]" * depth + "}}"
    with pytest.raises(FlowError, match="nested too deeply"):
        load_flow(text)


def test_a_document_nested_too_deeply_to_validate() -> None:
    depth = 400  # readable as JSON, deeper than the model validates
    text = '{"name": "x", "meta": {"v": ' + "[" * depth + "]" * depth + "}}"
    with pytest.raises(FlowError, match="depth"):
        load_flow(text)


@pytest.mark.parametrize("version", [0, 2, "1", None])
def test_wrong_schema_version(version: Any) -> None:
    with pytest.raises(FlowError, match="schema_version"):
        load_flow({"schema_version": version, "name": "x"})


def test_schema_errors_name_the_field() -> None:
    with pytest.raises(FlowError, match=r"nodes\.0\.id"):
        load_flow({"name": "x", "nodes": [{"id": "", "type": "t.x"}]})
    with pytest.raises(FlowError, match=r"edges\.0\.kind"):
        load_flow(
            {
                "name": "x",
                "edges": [
                    {"id": "e", "source": "a", "source_port": "o", "target": "b"}
                    | {"target_port": "i", "kind": "wire"}
                ],
            }
        )


# -- JSON Schema --------------------------------------------------------------------------


def test_flow_json_schema() -> None:
    schema = flow_json_schema()
    json.dumps(schema)  # plain JSON data
    assert schema["type"] == "object"
    assert {"nodes", "edges", "name", "schema_version"} <= set(schema["properties"])
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert "name" in schema["required"]
    # Every $ref points at a definition that exists.
    refs = {v for v in _walk(schema) if isinstance(v, str) and v.startswith("#/$defs/")}
    assert refs and all(ref.removeprefix("#/$defs/") in schema["$defs"] for ref in refs)


@pytest.mark.skipif(
    importlib.util.find_spec("jsonschema") is None, reason="jsonschema is not installed"
)
def test_flow_json_schema_validates_documents() -> None:  # pragma: no cover - optional
    import jsonschema  # type: ignore[import-untyped]

    schema = flow_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(json.loads(CANONICAL), schema)


def _walk(value: Any) -> Any:
    yield value
    if isinstance(value, dict):
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


# -- property: dump -> load -> dump is the identity ------------------------------------------

_finite = st.floats(allow_nan=False, allow_infinity=False)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | _finite | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)
_ids = st.text(min_size=1, max_size=40)
_ports = st.text(min_size=1, max_size=20)

_nodes = st.fixed_dictionaries(
    {"id": _ids, "type": _ids, "params": st.dictionaries(st.text(), _json, max_size=4)},
    optional={
        "version": st.integers(min_value=1, max_value=10**6),
        "title": st.none() | st.text(max_size=100),
        "position": st.fixed_dictionaries({}, optional={"x": _finite, "y": _finite}),
        "retry": st.fixed_dictionaries(
            {},
            optional={
                "max_attempts": st.integers(1, 100),
                "backoff": st.sampled_from(["fixed", "exponential"]),
                "delay_s": st.floats(0, 86400),
                "jitter": st.floats(0, 1),
                "retry_on": st.lists(st.text(), max_size=3),
            },
        ),
        "timeout_s": st.floats(0, 7 * 86400, exclude_min=True),
        "on_error": st.sampled_from(["stop", "continue", "error_port"]),
        "join": st.sampled_from([None, "all", "any", "first"]),
        "meta": st.dictionaries(st.text(), _json, max_size=3),
    },
)
_edges = st.fixed_dictionaries(
    {"id": _ids, "source": _ids, "source_port": _ports, "target": _ids, "target_port": _ports},
    optional={"kind": st.sampled_from(["data", "tool", "memory", "model"])},
)
_flows = st.fixed_dictionaries(
    {
        "name": st.text(min_size=1, max_size=100),
        "nodes": st.lists(_nodes, max_size=4),
        "edges": st.lists(_edges, max_size=4),
    },
    optional={
        "schema_version": st.just(1),
        "description": st.none() | st.text(),
        "max_concurrency": st.integers(1, 1024),
        "timeout_s": st.floats(0, 30 * 86400, exclude_min=True),
        "meta": st.dictionaries(st.text(), _json, max_size=3),
    },
)


@settings(max_examples=200, deadline=None)
@given(_flows)
def test_dump_load_dump_is_identical(document: dict[str, Any]) -> None:
    flow = load_flow(document)
    text = dump_flow(flow)
    again = load_flow(text)
    assert again == flow
    assert dump_flow(again) == text
    assert dump_flow(load_flow(text.encode())) == text  # bytes, as read from a file
    assert isinstance(Flow.model_validate_json(text), Flow)
