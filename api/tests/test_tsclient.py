"""The editor's generated API client matches the API's OpenAPI document."""

from __future__ import annotations

from pathlib import Path

from plait.api.tsclient import openapi_document, render, ts_type

GENERATED = Path(__file__).resolve().parents[2] / "editor" / "src" / "api" / "generated.ts"


def test_the_committed_client_is_fresh() -> None:
    assert GENERATED.read_text(encoding="utf-8") == render(openapi_document()), (
        "editor/src/api/generated.ts is stale: run `make editor-client` and commit it"
    )


def test_every_operation_has_a_function() -> None:
    document = openapi_document()
    text = render(document)
    for operations in document["paths"].values():
        for op in operations.values():
            words = op["operationId"].replace("_", "-").split("-")
            name = words[0] + "".join(w.title() for w in words[1:])
            assert f"export function {name}(" in text


def test_types_of_the_schema_subset() -> None:
    assert ts_type({"anyOf": [{"type": "string"}, {"type": "null"}]}) == "string | null"
    assert ts_type({"type": "array", "items": {"$ref": "#/components/schemas/X"}}) == "Array<X>"
    assert ts_type({"enum": ["a", "b"]}) == '"a" | "b"'
    assert ts_type({"type": "object", "additionalProperties": {"type": "integer"}}) == (
        "{ [key: string]: number }"
    )
    assert ts_type({}) == "JsonValue"
    assert '"odd-key"?: string;' in ts_type(
        {"type": "object", "properties": {"odd-key": {"type": "string"}}}
    )
