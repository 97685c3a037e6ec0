"""The route table: pattern parsing, ranking, conflicts, decoding, 405s."""

from __future__ import annotations

import pytest

from plait.router.routes import (
    AuthConfig,
    MethodNotAllowed,
    PatternError,
    Route,
    RouteConflict,
    RouteTable,
    parse_pattern,
)

UUID = "12345678-1234-1234-1234-1234567890AB"


def resolved(table: RouteTable, method: str, path: str) -> tuple[str, dict[str, object]] | None:
    match = table.resolve(method, path)
    return None if match is None else (match.route.path, match.params)


def test_parse_pattern_segments() -> None:
    pattern = parse_pattern("/orders/{id:int}/items/{rest:path}")
    assert [(s.kind, s.value) for s in pattern.segments] == [
        ("static", "orders"),
        ("int", "id"),
        ("static", "items"),
        ("path", "rest"),
    ]
    assert parse_pattern("/").segments == ()
    assert [s.kind for s in parse_pattern("/a/").segments] == ["static", "static"]
    assert parse_pattern("/{name:str}").signature == parse_pattern("/{other}").signature


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("hello", "must start with '/'"),
        ("", "must start with '/'"),
        ("/a//b", "empty segment"),
        ("/a/{id", "whole"),
        ("/file-{id}.json", "whole"),
        ("/{id:float}", "unknown type 'float'"),
        ("/{1x}", "not a valid variable name"),
        ("/{}", "not a valid variable name"),
        ("/{a}/{a:int}", "twice"),
        ("/{rest:path}/more", "must be the last segment"),
        ("/a/../b", "'..'"),
        ("/a?b", "'?'"),
    ],
)
def test_bad_patterns_are_refused_with_a_clear_message(path: str, words: str) -> None:
    with pytest.raises(PatternError, match=words.replace("(", r"\(").replace("?", r"\?")):
        parse_pattern(path)


def test_route_validates_on_construction() -> None:
    assert Route("get", "/a").method == "GET"
    with pytest.raises(ValueError, match="HEAD requests follow GET"):
        Route("HEAD", "/a")
    with pytest.raises(ValueError, match="unsupported"):
        Route("TRACE", "/a")
    with pytest.raises(PatternError):
        Route("GET", "nope")
    assert AuthConfig("api_key", keys=("k",)).header == "x-api-key"
    assert AuthConfig("hmac", header="X-Sig").header == "x-sig"


def test_static_beats_variable_whatever_the_order() -> None:
    for routes in (
        [Route("GET", "/hello/me"), Route("GET", "/hello/{name}")],
        [Route("GET", "/hello/{name}"), Route("GET", "/hello/me")],
    ):
        table = RouteTable(routes)
        assert resolved(table, "GET", "/hello/me") == ("/hello/me", {})
        assert resolved(table, "GET", "/hello/Ada") == ("/hello/{name}", {"name": "Ada"})


def test_ranking_typed_over_untyped_over_path() -> None:
    table = RouteTable(
        [
            Route("GET", "/x/{rest:path}"),
            Route("GET", "/x/{name}"),
            Route("GET", "/x/{id:int}"),
            Route("GET", "/x/{u:uuid}"),
        ]
    )
    assert resolved(table, "GET", "/x/42") == ("/x/{id:int}", {"id": 42})
    assert resolved(table, "GET", "/x/-7") == ("/x/{id:int}", {"id": -7})
    assert resolved(table, "GET", f"/x/{UUID}") == ("/x/{u:uuid}", {"u": UUID.lower()})
    assert resolved(table, "GET", "/x/ada") == ("/x/{name}", {"name": "ada"})
    assert resolved(table, "GET", "/x/a/b/c") == ("/x/{rest:path}", {"rest": "a/b/c"})
    assert resolved(table, "GET", "/x/") is None  # a path variable needs a non-empty rest


def test_ranking_backtracks_to_a_lower_ranked_first_segment() -> None:
    table = RouteTable([Route("GET", "/a/b"), Route("GET", "/{x}/c")])
    assert resolved(table, "GET", "/a/c") == ("/{x}/c", {"x": "a"})
    assert resolved(table, "GET", "/a/b") == ("/a/b", {})


def test_segment_by_segment_ranking_prefers_the_earlier_static_segment() -> None:
    table = RouteTable([Route("GET", "/{x}/b"), Route("GET", "/a/{y}")])
    assert resolved(table, "GET", "/a/b") == ("/a/{y}", {"y": "b"})


def test_percent_decoding_and_trailing_slash() -> None:
    table = RouteTable(
        [Route("GET", "/café/{name}"), Route("GET", "/dir/"), Route("GET", "/files/{p:path}")]
    )
    assert resolved(table, "GET", "/caf%C3%A9/a%2Fb") == ("/café/{name}", {"name": "a/b"})
    assert resolved(table, "GET", "/dir/") == ("/dir/", {})
    assert resolved(table, "GET", "/dir") is None
    assert resolved(table, "GET", "/files/a%20b/c/") == ("/files/{p:path}", {"p": "a b/c/"})
    assert resolved(table, "GET", "/caf%FF/x") is None  # not UTF-8
    assert resolved(table, "GET", "/files/../etc/passwd") is None
    assert resolved(table, "GET", "/files/%2E%2E/etc") is None
    assert resolved(table, "GET", "files/x") is None


def test_conflicts_name_both_routes() -> None:
    first = Route("GET", "/hello/{name}")
    second = Route("GET", "/hello/{who}")
    with pytest.raises(RouteConflict) as info:
        RouteTable([first, second])
    assert info.value.first is first and info.value.second is second
    assert "GET /hello/{name}" in str(info.value) and "GET /hello/{who}" in str(info.value)
    table = RouteTable([first])
    assert table.conflict(second) is first
    assert table.conflict(Route("POST", "/hello/{who}")) is None
    assert table.conflict(Route("GET", "/hello/{who:int}")) is None
    with pytest.raises(RouteConflict):
        table.add(Route("GET", "/hello/{name}"))
    assert len(table) == 1


def test_int_and_uuid_at_one_segment_do_not_conflict() -> None:
    table = RouteTable([Route("GET", "/{a:int}"), Route("GET", "/{b:uuid}")])
    assert resolved(table, "GET", "/5") == ("/{a:int}", {"a": 5})


def test_method_not_allowed_lists_the_methods_and_head_follows_get() -> None:
    table = RouteTable([Route("GET", "/a/{x}"), Route("DELETE", "/a/{x:int}"), Route("POST", "/b")])
    assert resolved(table, "HEAD", "/a/z") == ("/a/{x}", {"x": "z"})
    with pytest.raises(MethodNotAllowed) as info:
        table.resolve("PUT", "/a/1")
    assert info.value.allowed == ("DELETE", "GET", "HEAD")
    with pytest.raises(MethodNotAllowed) as info:
        table.resolve("GET", "/b")
    assert info.value.allowed == ("POST",)
    assert table.resolve("GET", "/c") is None


def test_method_specific_ranking() -> None:
    # The static route is GET only: a POST to the same path goes to the POST variable route.
    table = RouteTable([Route("GET", "/hello/me"), Route("POST", "/hello/{name}")])
    assert resolved(table, "POST", "/hello/me") == ("/hello/{name}", {"name": "me"})


def test_root_and_routes_property() -> None:
    routes = [Route("GET", "/"), Route("GET", "/{x}")]
    table = RouteTable(routes)
    assert table.routes == tuple(routes)
    assert resolved(table, "GET", "/") == ("/", {})
    assert resolved(table, "GET", "//") is None  # empty segments match no variable
