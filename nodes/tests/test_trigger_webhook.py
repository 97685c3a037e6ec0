"""trigger.webhook: route params are validated; the request payload becomes ports."""

import pytest
from pydantic import ValidationError

from plait.node_runner.errors import NodeError
from plait.nodes.triggers import WebhookTrigger


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/hello",
        "/hello/{name}",
        "/orders/{id:int}/items/{item:uuid}",
        "/files/{rest:path}",
        "/v1/a-b_c.d~e/{_x1}",
    ],
)
def test_accepts_path_patterns(path):
    assert WebhookTrigger.Params.model_validate({"path": path}).path == path


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("hello", "must start with '/'"),
        ("/a//b", "empty segment"),
        ("/a/", "empty segment"),
        ("/a b", "not allowed in a URL"),
        ("/a/{name", "one whole variable"),
        ("/a/x{name}", "one whole variable"),
        ("/a/{}", "must be an identifier"),
        ("/a/{1st}", "must be an identifier"),
        ("/a/{id:float}", "unknown path variable type 'float'"),
        ("/a/{id}/{id:int}", "appears twice"),
        ("/a/{rest:path}/b", "must come last"),
    ],
)
def test_refuses_bad_path_patterns_clearly(path, message):
    with pytest.raises(ValidationError, match=message):
        WebhookTrigger.Params.model_validate({"path": path})


def test_params_default_to_a_sync_post_route():
    params = WebhookTrigger.Params.model_validate({"path": "/x"})

    assert (params.method, params.mode) == ("POST", "sync")


async def test_outputs_the_request(run_node):
    payload = {
        "method": "POST",
        "path": "/orders/42",
        "headers": {"Content-Type": "application/json", "x-request-id": "r1"},
        "query": {"expand": "items", "tag": ["a", "b"]},
        "body": {"sku": "p-1", "qty": 2},
        "path_params": {"id": 42},
    }

    out = await run_node(
        WebhookTrigger, {"method": "POST", "path": "/orders/{id:int}"}, trigger_payload=payload
    )

    assert out.model_dump() == {
        "method": "POST",
        "path": "/orders/42",
        "headers": {"content-type": "application/json", "x-request-id": "r1"},
        "query": {"expand": "items", "tag": ["a", "b"]},
        "body": {"sku": "p-1", "qty": 2},
        "path_params": {"id": 42},
    }


async def test_missing_keys_take_defaults_from_the_params(run_node):
    out = await run_node(
        WebhookTrigger, {"method": "PUT", "path": "/items"}, trigger_payload={"body": "hi"}
    )

    assert out.model_dump() == {
        "method": "PUT",
        "path": "/items",
        "headers": {},
        "query": {},
        "body": "hi",
        "path_params": {},
    }


async def test_no_payload_is_an_empty_request(run_node):
    out = await run_node(WebhookTrigger, {"method": "GET", "path": "/ping"})

    assert (out.method, out.path, out.body) == ("GET", "/ping", None)


async def test_unknown_payload_keys_are_ignored(run_node):
    out = await run_node(
        WebhookTrigger, {"path": "/x"}, trigger_payload={"body": 1, "client": "10.0.0.1"}
    )

    assert out.body == 1


@pytest.mark.parametrize(
    "payload", [["not", "an", "object"], {"headers": "x"}, {"path_params": [1]}]
)
async def test_a_payload_that_is_not_request_shaped_fails(run_node, payload):
    with pytest.raises(NodeError) as caught:
        await run_node(WebhookTrigger, {"path": "/x"}, trigger_payload=payload)

    assert caught.value.kind == "invalid_inputs"
    assert "payload must be an object" in caught.value.message
