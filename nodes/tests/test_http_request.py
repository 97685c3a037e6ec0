"""http.request against a real HTTP server on 127.0.0.1.

The server is on a loopback address, so most tests allow private networks, as the
local ``plait run`` does; the outbound-safety tests turn that off and, where a test
needs a host that counts as public, replace the resolver (``_resolve``) only.
"""

import socket

import pytest
from pydantic import ValidationError

from plait.node_runner.errors import NodeError
from plait.nodes import http, outbound
from plait.nodes.http import HttpRequest


@pytest.fixture
def request_node(run_node):
    """``request_node(params, allow_private_networks=True)``: run http.request."""

    async def send(params, *, allow_private_networks=True):
        return await run_node(HttpRequest, params, allow_private_networks=allow_private_networks)

    return send


def fake_resolver(table):
    """A ``_resolve`` that answers from ``table`` (host -> addresses)."""

    async def resolve(host):
        return table[host]

    return resolve


async def failure(coro) -> NodeError:
    with pytest.raises(NodeError) as caught:
        await coro
    return caught.value


# -- responses -------------------------------------------------------------------------


async def test_json_response_is_parsed(request_node, http_server):
    out = await request_node({"url": http_server.url("/json")})

    assert out.status == 200
    assert out.body == {"hello": "world"}
    assert out.headers["content-type"] == "application/json"
    assert out.headers["x-custom"] == "Yes"  # names lower-cased, values as sent


async def test_json_family_content_types_are_parsed(request_node, http_server):
    out = await request_node({"url": http_server.url("/problem")})

    assert out.body == {"title": "ok"}


async def test_text_response_is_decoded_with_its_charset(request_node, http_server):
    out = await request_node({"url": http_server.url("/text")})

    assert out.body == "héllo"


async def test_empty_body_is_null(request_node, http_server):
    out = await request_node({"url": http_server.url("/empty")})

    assert (out.status, out.body) == (204, None)


async def test_head_has_no_body(request_node, http_server):
    out = await request_node({"method": "HEAD", "url": http_server.url("/json")})

    assert (out.status, out.body) == (200, None)


async def test_invalid_json_fails_clearly(request_node, http_server):
    error = await failure(request_node({"url": http_server.url("/bad-json")}))

    assert error.kind == "invalid_response"


# -- requests ------------------------------------------------------------------------


async def test_object_body_is_sent_as_json_with_headers_and_query(request_node, http_server):
    out = await request_node(
        {
            "method": "POST",
            "url": http_server.url("/echo?x=1"),
            "headers": {"X-Token": "t"},
            "query": {"n": 2, "flag": True, "s": "a b"},
            "body": {"name": "Ada"},
        }
    )

    echo = out.body
    assert echo["method"] == "POST"
    assert echo["query"] == {"x": "1", "n": "2", "flag": "true", "s": "a b"}
    assert echo["headers"]["x-token"] == "t"
    assert echo["headers"]["content-type"] == "application/json"
    assert echo["body"] == '{"name":"Ada"}'


async def test_string_body_is_sent_as_text(request_node, http_server):
    out = await request_node({"method": "PUT", "url": http_server.url("/echo"), "body": "héllo"})

    assert out.body["headers"]["content-type"] == "text/plain; charset=utf-8"
    assert out.body["body"] == "héllo"


async def test_a_content_type_header_wins(request_node, http_server):
    out = await request_node(
        {
            "method": "POST",
            "url": http_server.url("/echo"),
            "headers": {"content-type": "application/xml"},
            "body": "<a/>",
        }
    )

    assert out.body["headers"]["content-type"] == "application/xml"


async def test_null_body_sends_nothing(request_node, http_server):
    out = await request_node({"method": "DELETE", "url": http_server.url("/echo")})

    assert out.body["body"] == ""
    assert "content-type" not in out.body["headers"]


# -- statuses --------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 429, 404])
async def test_non_2xx_status_fails_with_the_start_of_the_body(request_node, http_server, status):
    error = await failure(request_node({"url": http_server.url(f"/status/{status}?key=secret")}))

    assert error.kind == "http_status"
    assert error.status == status
    assert error.details == {"body": "e" * 2048}
    assert "secret" not in error.message  # queries often carry API keys


async def test_accepted_status_is_not_an_error(request_node, http_server):
    out = await request_node({"url": http_server.url("/status/404"), "accept_status": [404]})

    assert out.status == 404
    assert out.body == "e" * 5000


# -- redirects ---------------------------------------------------------------------------


async def test_redirects_are_followed(request_node, http_server):
    out = await request_node({"url": http_server.url("/redirect?to=/json")})

    assert (out.status, out.body) == (200, {"hello": "world"})


async def test_redirects_can_be_left_unfollowed(request_node, http_server):
    out = await request_node(
        {
            "url": http_server.url("/redirect?to=/json"),
            "follow_redirects": False,
            "accept_status": [302],
        }
    )

    assert out.status == 302
    assert out.headers["location"] == "/json"


async def test_303_turns_a_post_into_a_get_without_body(request_node, http_server):
    out = await request_node(
        {"method": "POST", "url": http_server.url("/redirect?to=/echo&status=303"), "body": [1]}
    )

    assert (out.body["method"], out.body["body"]) == ("GET", "")


async def test_307_keeps_method_and_body(request_node, http_server):
    out = await request_node(
        {"method": "POST", "url": http_server.url("/redirect?to=/echo&status=307"), "body": [1]}
    )

    assert (out.body["method"], out.body["body"]) == ("POST", "[1]")


async def test_credentials_do_not_follow_a_redirect_to_another_origin(
    request_node, http_server, other_server
):
    out = await request_node(
        {
            "url": http_server.url(f"/redirect?to={other_server.url('/echo')}"),
            "headers": {"Authorization": "Bearer t", "Cookie": "s=1", "X-Keep": "k"},
        }
    )

    sent = out.body["headers"]
    assert "authorization" not in sent
    assert "cookie" not in sent
    assert sent["x-keep"] == "k"


async def test_too_many_redirects_fail(request_node, http_server):
    error = await failure(request_node({"url": http_server.url("/loop")}))

    assert error.kind == "redirect"
    assert len(http_server.requests) == http.MAX_REDIRECTS + 1


async def test_redirect_to_another_scheme_fails(request_node, http_server):
    error = await failure(request_node({"url": http_server.url("/redirect?to=file:///etc/passwd")}))

    assert error.kind == "redirect"


# -- transport failures and limits ------------------------------------------------------


async def test_slow_server_times_out(request_node, http_server):
    error = await failure(request_node({"url": http_server.url("/slow"), "timeout_s": 0.2}))

    assert error.kind == "timeout"


async def test_refused_connection_is_a_connection_error(request_node):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on the port now.

    error = await failure(request_node({"url": f"http://127.0.0.1:{port}/"}))

    assert error.kind == "connection"


@pytest.mark.parametrize("route", ["/big?size=4096", "/stream?size=4096"])
async def test_response_body_is_capped(request_node, http_server, monkeypatch, route):
    monkeypatch.setattr(http, "MAX_RESPONSE_BYTES", 1024)

    error = await failure(request_node({"url": http_server.url(route)}))

    assert error.kind == "response_too_large"


async def test_body_under_the_cap_is_read_whole(request_node, http_server):
    out = await request_node({"url": http_server.url("/stream?size=4096")})

    assert out.body == "s" * 4096


# -- params ------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["ftp://example.com/f", "file:///etc/passwd", "http:///nohost"])
async def test_only_http_urls_are_allowed(request_node, url):
    error = await failure(request_node({"url": url}))

    assert error.kind == "invalid_params"


@pytest.mark.parametrize(
    "params",
    [
        {"url": "http://x", "method": "TRACE"},
        {"url": "http://x", "timeout_s": 0},
        {"url": "http://x", "accept_status": [700]},
        {"url": "http://x", "headers": {"X": "a\nb"}},
    ],
)
def test_refuses_bad_params(params):
    with pytest.raises(ValidationError):
        HttpRequest.Params.model_validate(params)


def test_is_not_idempotent():
    assert not HttpRequest.spec.idempotent


# -- outbound safety ------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_loopback_is_refused_unless_allowed(request_node, http_server, host):
    url = http_server.url("/json").replace("127.0.0.1", host)

    error = await failure(request_node({"url": url}, allow_private_networks=False))

    assert error.kind == "forbidden_address"
    assert http_server.requests == []


async def test_loopback_is_reached_when_allowed(request_node, http_server):
    out = await request_node({"url": http_server.url("/json")}, allow_private_networks=True)

    assert out.status == 200


@pytest.mark.parametrize(
    "address",
    [
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "127.0.0.2",
        "169.254.169.254",  # cloud metadata services
        "0.0.0.0",
        "224.0.0.251",
        "240.0.0.1",
        "100.64.0.1",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "2002:7f00:1::1",  # 6to4 wrapping 127.0.0.1
    ],
)
async def test_non_public_addresses_are_refused(request_node, monkeypatch, address):
    monkeypatch.setattr(outbound, "_resolve", fake_resolver({"service.test": [address]}))

    error = await failure(
        request_node({"url": "http://service.test/"}, allow_private_networks=False)
    )

    assert error.kind == "forbidden_address"
    assert error.details == {"host": "service.test", "address": address}


async def test_one_private_address_among_public_ones_is_enough_to_refuse(request_node, monkeypatch):
    resolver = fake_resolver({"service.test": ["93.184.216.34", "10.0.0.1"]})
    monkeypatch.setattr(outbound, "_resolve", resolver)

    error = await failure(
        request_node({"url": "https://service.test/"}, allow_private_networks=False)
    )

    assert error.kind == "forbidden_address"


async def test_every_redirect_hop_is_checked(request_node, http_server, monkeypatch):
    # The test server's address passes for public; the redirect target is private.
    resolver = fake_resolver(
        {"127.0.0.1": ["93.184.216.34", "2606:4700:4700::1111"], "internal.test": ["10.0.0.7"]}
    )
    monkeypatch.setattr(outbound, "_resolve", resolver)

    error = await failure(
        request_node(
            {"url": http_server.url("/redirect?to=http://internal.test/admin")},
            allow_private_networks=False,
        )
    )

    assert error.kind == "forbidden_address"
    assert error.details == {"host": "internal.test", "address": "10.0.0.7"}
    assert [r.path for r in http_server.requests] == ["/redirect"]  # first hop went out


async def test_public_hops_go_through(request_node, http_server, monkeypatch):
    monkeypatch.setattr(outbound, "_resolve", fake_resolver({"127.0.0.1": ["93.184.216.34"]}))

    out = await request_node(
        {"url": http_server.url("/redirect?to=/json")}, allow_private_networks=False
    )

    assert out.body == {"hello": "world"}
