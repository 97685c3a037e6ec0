"""Property tests: the table agrees with a brute-force ranking, whatever the order."""

from __future__ import annotations

import uuid
from urllib.parse import unquote

from hypothesis import given, settings
from hypothesis import strategies as st

from plait.router.routes import MethodNotAllowed, Route, RouteConflict, RouteTable

UUID = "0f8fad5b-d9cb-469f-a165-70867728950e"
RANK = {"static": 0, "int": 1, "uuid": 1, "str": 2, "path": 3}
SETTINGS = settings(derandomize=True, max_examples=400, deadline=None)

middle = st.sampled_from(["a", "b", "{v:int}", "{v:uuid}", "{v}"])
last = st.sampled_from(["a", "b", "{v:int}", "{v:uuid}", "{v}", "{v:path}", ""])


@st.composite
def routes(draw: st.DrawFn) -> Route:
    parts = draw(st.lists(middle, max_size=3))
    if draw(st.booleans()):
        parts.append(draw(last))
    # Unique variable names per pattern; names never matter to matching.
    named = [p.replace("{v", f"{{v{i}") for i, p in enumerate(parts)]
    if named and named[-1] == "" and len(named) == 1:
        named = []  # "/" rather than "//"
    method = draw(st.sampled_from(["GET", "POST"]))
    return Route(method, "/" + "/".join(named))


request_segment = st.sampled_from(
    ["a", "b", "%61", "7", "-3", UUID, UUID.upper(), "zz", "", "x%2Fy", "9" * 30]
)
request_paths = st.lists(request_segment, max_size=5).map(lambda s: "/" + "/".join(s))
request_methods = st.sampled_from(["GET", "POST", "HEAD", "PUT"])


def accepted(candidates: list[Route]) -> list[Route]:
    table = RouteTable()
    kept = []
    for route in candidates:
        try:
            table.add(route)
        except RouteConflict:
            continue
        kept.append(route)
    return kept


def rank_vector(route: Route, segs: list[str]) -> tuple[int, ...] | None:
    """Brute force: does ``route`` match ``segs``, and with what rank per segment?"""
    vector: list[int] = []
    for i, seg in enumerate(route.pattern.segments):
        if seg.kind == "path":
            return (*vector, 3) if "".join(segs[i:]) else None
        if i >= len(segs):
            return None
        text = segs[i]
        if seg.kind == "static":
            ok = text == seg.value
        elif seg.kind == "int":
            digits = text[1:] if text.startswith("-") else text
            ok = digits.isascii() and digits.isdigit() and len(digits) <= 18
        elif seg.kind == "uuid":
            try:
                ok = len(text) == 36 and str(uuid.UUID(text)) == text.lower()
            except ValueError:
                ok = False
        else:
            ok = text != ""
        if not ok:
            return None
        vector.append(RANK[seg.kind])
    return tuple(vector) if len(segs) == len(route.pattern.segments) else None


def reference(routes: list[Route], method: str, path: str) -> Route | set[str] | None:
    """The best-ranked route, else the set of methods matching the path, else None."""
    segs = [unquote(s) for s in path[1:].split("/")] if path != "/" else []
    method = "GET" if method == "HEAD" else method
    ranked = [(v, r) for r in routes if (v := rank_vector(r, segs)) is not None]
    mine = sorted((v, r.path) for v, r in ranked if r.method == method)
    if mine:
        best = [p for v, p in mine if v == mine[0][0]]
        assert len(best) == 1, f"ambiguous: {best}"
        return next(r for r in routes if r.method == method and r.path == best[0])
    methods = {r.method for _, r in ranked}
    return methods | ({"HEAD"} if "GET" in methods else set()) if methods else None


def outcome(table: RouteTable, method: str, path: str) -> Route | set[str] | None:
    try:
        match = table.resolve(method, path)
    except MethodNotAllowed as exc:
        return set(exc.allowed)
    return None if match is None else match.route


@SETTINGS
@given(st.lists(routes(), max_size=12), st.data())
def test_resolution_is_unique_order_free_and_matches_brute_force(
    candidates: list[Route], data: st.DataObject
) -> None:
    kept = accepted(candidates)
    shuffled = data.draw(st.permutations(kept))
    forward, backward = RouteTable(kept), RouteTable(shuffled)
    for _ in range(10):
        method, path = data.draw(request_methods), data.draw(request_paths)
        expected = reference(kept, method, path)
        assert outcome(forward, method, path) == expected
        assert outcome(backward, method, path) == expected


@SETTINGS
@given(routes(), st.data())
def test_a_route_with_the_same_rank_classes_is_refused_naming_both(
    route: Route, data: st.DataObject
) -> None:
    twin = Route(route.method, route.path.replace("{v", "{w"), target="other")
    others = accepted(data.draw(st.lists(routes(), max_size=6)))
    key = (route.method, route.pattern.signature)
    table = RouteTable([r for r in others if (r.method, r.pattern.signature) != key])
    table.add(route)
    try:
        table.add(twin)
    except RouteConflict as exc:
        assert exc.first is route and exc.second is twin
        assert str(route) in str(exc) and str(twin) in str(exc)
    else:
        raise AssertionError(f"{twin} was accepted beside {route}")
