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


# -- route settings: auth, CORS, rate limit, timeout ------------------------------------


def test_route_settings_default_to_open_uncapped_30s():
    params = WebhookTrigger.Params.model_validate({"path": "/x"})

    assert params.auth.kind == "none"
    assert (params.cors, params.rate_limit, params.timeout_s) == (None, None, 30)


def test_api_key_auth_names_a_secret_with_a_default_header():
    params = WebhookTrigger.Params.model_validate(
        {"path": "/x", "auth": {"kind": "api_key", "secret": "HOOK_KEY"}}
    )

    assert params.auth.model_dump() == {
        "kind": "api_key",
        "header": "X-API-Key",
        "secret": "HOOK_KEY",
    }


def test_hmac_auth_defaults():
    params = WebhookTrigger.Params.model_validate(
        {"path": "/x", "auth": {"kind": "hmac", "secret": "SIGNING_KEY"}}
    )

    assert params.auth.model_dump() == {
        "kind": "hmac",
        "header": "X-Signature",
        "secret": "SIGNING_KEY",
        "timestamp_header": "X-Timestamp",
        "tolerance_s": 300,
    }


def test_cors_and_rate_limit_round_trip():
    cors = {
        "allow_origins": ["https://app.example.com", "http://localhost:5173"],
        "allow_methods": ["GET", "POST"],
        "allow_headers": ["Content-Type", "X-Request-Id"],
        "allow_credentials": True,
        "max_age_s": 60,
    }
    params = WebhookTrigger.Params.model_validate(
        {"path": "/x", "cors": cors, "rate_limit": {"requests": 10, "per_s": 1}, "timeout_s": 5}
    )

    assert params.cors is not None and params.cors.model_dump() == cors
    assert params.rate_limit is not None
    assert (params.rate_limit.requests, params.rate_limit.per_s) == (10, 1)
    assert params.timeout_s == 5


def test_cors_methods_default_to_the_routes_own():
    params = WebhookTrigger.Params.model_validate({"path": "/x", "cors": {"allow_origins": ["*"]}})

    assert params.cors is not None
    assert (params.cors.allow_methods, params.cors.allow_credentials) == (None, False)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"auth": {"kind": "basic"}}, "does not match any of the expected tags"),
        ({"auth": {"kind": "api_key"}}, "auth.api_key.secret\n  Field required"),
        ({"auth": {"kind": "api_key", "secret": "sk_live_123 456"}}, "is not a secret name"),
        ({"auth": {"kind": "api_key", "secret": "1KEY"}}, "is not a secret name"),
        ({"auth": {"kind": "api_key", "secret": "K", "header": "X-Key\r\nX-Evil: 1"}}, "header"),
        ({"auth": {"kind": "api_key", "secret": "K", "key": "inline"}}, "Extra inputs"),
        ({"auth": {"kind": "hmac", "secret": "K", "tolerance_s": 0}}, "greater than or equal"),
        ({"auth": {"kind": "hmac", "secret": "K", "timestamp_header": "a b"}}, "header name"),
        ({"auth": {"kind": "hmac", "secret": "K", "timestamp_header": None}}, "string"),
        ({"cors": {"allow_origins": []}}, "at least 1 item"),
        ({"cors": {"allow_origins": ["https://a.example/path"]}}, "is not an origin"),
        ({"cors": {"allow_origins": ["a.example"]}}, "is not an origin"),
        ({"cors": {"allow_origins": ["*"], "allow_credentials": True}}, "needs the origins"),
        ({"cors": {"allow_origins": ["*"], "allow_methods": ["BREW"]}}, "allow_methods"),
        ({"cors": {"allow_origins": ["*"], "allow_headers": ["bad header"]}}, "header name"),
        ({"cors": {"allow_origin": ["*"]}}, "Extra inputs"),
        ({"rate_limit": {"requests": 0, "per_s": 1}}, "greater than or equal to 1"),
        ({"rate_limit": {"requests": 5, "per_s": 0}}, "greater than 0"),
        ({"rate_limit": {"requests": 5}}, "per_s\n  Field required"),
        ({"timeout_s": 0}, "greater than 0"),
        ({"timeout_s": 100_000}, "less than or equal to 3600"),
    ],
)
def test_refuses_bad_route_settings_clearly(settings, message):
    with pytest.raises(ValidationError, match=message):
        WebhookTrigger.Params.model_validate({"path": "/x", **settings})


def test_route_settings_are_in_the_catalogue_schema():
    schema = WebhookTrigger.Params.model_json_schema()

    assert {"auth", "cors", "rate_limit", "timeout_s"} <= set(schema["properties"])
