"""The published flow JSON Schema is current and describes real flows."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from plait.node_runner.flow import dump_flow, load_flow
from plait.node_runner.schemas import render

DOCS = Path(__file__).resolve().parents[2] / "docs" / "schemas"


def test_published_schemas_are_fresh() -> None:
    for name, text in render().items():
        path = DOCS / name
        assert path.exists(), f"{path} is missing: run `make schemas`"
        assert path.read_text(encoding="utf-8") == text, f"{path} is stale: run `make schemas`"


def test_schema_accepts_canonical_flows_and_refuses_broken_ones() -> None:
    schema = json.loads(render()["flow-v1.schema.json"])
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    flow = load_flow(
        {
            "name": "Greet",
            "nodes": [
                {"id": "hook", "type": "trigger.webhook", "params": {"path": "/hello/{name}"}},
                {"id": "reply", "type": "http.respond", "retry": {"max_attempts": 3}},
            ],
            "edges": [
                {
                    "id": "e1",
                    "source": "hook",
                    "source_port": "path_params",
                    "target": "reply",
                    "target_port": "input",
                    "kind": "data",
                }
            ],
        }
    )
    assert not list(validator.iter_errors(json.loads(dump_flow(flow))))
    broken = {"name": "x", "nodes": [{"id": "a"}], "edges": [], "surprise": 1}
    assert list(validator.iter_errors(broken))
