"""Two workspaces, alpha and beta, on SQLite and PostgreSQL: nothing of one can be read,
listed, changed, deleted or guessed from the other (ARCHITECTURE.md §7).

Every route of the resource API has one entry in ``CASES``; ``test_every_route_is_covered``
walks ``app.routes`` and fails for a route that has neither an entry nor a stated reason,
so a new route cannot ship without its isolation test. For each case, on a fresh set of
alpha's rows:

- without a credential it is 401;
- from beta, with alpha's ids in the path, it is 404 ``not_found`` (never 403, which would
  say the row exists); a route about the caller's own workspace answers beta about beta;
- from alpha, with guessed ids, it is 404;
- a role below the route's is 403 (viewers never create, change or delete);
- no answer to beta or to a refused caller holds any of alpha's ids, names or values, and
  alpha's rows are unchanged afterwards;
- and the route does work for alpha with the right role, so the 404s above are not
  vacuous.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from apikit import Api, client_for, new_workspace, platform_for
from fastapi.routing import APIWebSocketRoute, iter_route_contexts
from sqlalchemy import select
from starlette.routing import Route

from plait.api.app import create_app
from plait.api.db.models import Secret
from plait.api.platform import Platform
from plait.api.services import secrets as secret_service
from plait.api.settings import load_settings

HELLO: dict[str, Any] = json.loads(
    (Path(__file__).parents[2] / "examples" / "hello.json").read_text()
)
ROLES_BELOW = {"viewer": (), "editor": ("viewer",), "owner": ("viewer", "editor")}
_counter = itertools.count()


def tag() -> str:
    """A distinctive lowercase marker, so a leak cannot hide behind a common word."""
    return f"zq{next(_counter)}x{uuid.uuid4().hex[:6]}"


def guess() -> str:
    return uuid.uuid4().hex


# -- the two tenants -------------------------------------------------------------------


@dataclass
class Tenants:
    platform: Platform
    alpha: dict[str, Api]  # by role
    beta: Api  # beta's owner
    anonymous: Api


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def tenants(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    with (
        platform_for(request.param, tmp_path_factory.mktemp("isolation")) as platform,
        client_for(platform) as client,
    ):
        alpha = {
            role: Api(client, new_workspace(platform, "alpha", role))
            for role in ("owner", "editor", "viewer")
        }
        yield Tenants(
            platform, alpha, Api(client, new_workspace(platform, "beta")), Api(client, None)
        )


@dataclass
class Seed:
    """A fresh set of alpha's rows, and every string that would betray them."""

    project_id: str
    flow_id: str
    stage_name: str
    secret_name: str
    user_id: str
    token_id: str
    revision: int
    schedule_id: str
    markers: set[str] = field(default_factory=set)

    def params(self) -> dict[str, Any]:
        return {
            "project_id": self.project_id,
            "flow_id": self.flow_id,
            "stage_name": self.stage_name,
            "name": self.secret_name,
            "user_id": self.user_id,
            "token_id": self.token_id,
            "schedule_id": self.schedule_id,
            "number": 1,
            "a": 1,
            "b": 2,
        }

    def guessed(self) -> dict[str, Any]:
        """The same names under ids nobody has."""
        ids = ("project_id", "flow_id", "user_id", "token_id", "schedule_id")
        return {**self.params(), **{key: guess() for key in ids}}


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def seed(owner: Api) -> Seed:
    """Alpha's rows: a project with an extra stage, a flow with two versions, a secret, a
    member and an API token."""
    t = tag()
    project = ok(owner.post("/api/projects", json={"name": f"{t}-project", "slug": t}), 201)
    stage = ok(owner.post(f"/api/projects/{project['id']}/stages", json={"name": f"{t}s"}), 201)
    flow = ok(
        owner.post(
            f"/api/projects/{project['id']}/flows",
            json={"name": f"{t}-flow", "document": {**HELLO, "description": f"{t}-v1"}},
        ),
        201,
    )
    v1 = ok(owner.post(f"/api/flows/{flow['id']}/versions", json={"note": f"{t}-n1"}), 201)
    flow = ok(
        owner.put(
            f"/api/flows/{flow['id']}",
            json={"document": {**HELLO, "description": f"{t}-v2"}, "revision": 1, "name": t},
        )
    )
    v2 = ok(owner.post(f"/api/flows/{flow['id']}/versions"), 201)
    # Published on the extra stage twice (v1, then v2), so it has a history to roll back in.
    publications = [
        ok(owner.post(f"/api/flows/{flow['id']}/publish", json={"stage": stage["name"], **v}))
        for v in ({"version": 1}, {"version": 2})
    ]
    # A second flow with a schedule, published on the extra stage too. Yearly, so its next
    # fire times do not move while a case runs.
    ticker = ok(
        owner.post(
            f"/api/projects/{project['id']}/flows",
            json={"name": f"{t}-ticker", "document": _ticker()},
        ),
        201,
    )
    ticker_publication = ok(
        owner.post(f"/api/flows/{ticker['id']}/publish", json={"stage": stage["name"]})
    )
    (schedule,) = ok(owner.get(f"/api/projects/{project['id']}/schedules"))
    secret = ok(
        owner.post(
            f"/api/projects/{project['id']}/secrets",
            json={"name": f"S_{t}", "value": f"{t}-value"},
        ),
        201,
    )
    member = ok(
        owner.post(
            "/api/workspaces/current/members",
            json={"email": f"{t}@example.com", "role": "editor", "name": f"{t}-member"},
        ),
        201,
    )
    token = ok(owner.post("/api/workspaces/current/tokens", json={"name": f"{t}-token"}), 201)
    workspace = ok(owner.get("/api/workspaces/current"))
    return Seed(
        project_id=project["id"],
        flow_id=flow["id"],
        stage_name=stage["name"],
        secret_name=secret["name"],
        user_id=member["user_id"],
        token_id=token["id"],
        revision=flow["revision"],
        schedule_id=schedule["id"],
        markers={
            ticker["id"],
            ticker_publication["id"],
            ticker_publication["bundle_id"],
            schedule["id"],
            t,
            workspace["id"],
            project["id"],
            stage["id"],
            flow["id"],
            v1["id"],
            v2["id"],
            v1["bundle_id"],
            v2["bundle_id"],
            *(p["id"] for p in publications),
            secret["id"],
            member["user_id"],
            token["id"],
            token["token"],
        },
    )


def _ticker() -> dict[str, Any]:
    """A flow that starts on a schedule (yearly, at midnight on 1 January)."""
    return {
        "schema_version": 1,
        "name": "ticker",
        "nodes": [
            {"id": "tick", "type": "trigger.schedule", "params": {"cron": "0 0 1 1 *"}},
            {"id": "note", "type": "data.template", "params": {"template": "tick"}},
        ],
        "edges": [
            {"id": "e1", "source": "tick", "source_port": "fired_at", "target": "note",
             "target_port": "input"}
        ],
    }  # fmt: skip


def snapshot(tenants: Tenants, s: Seed) -> dict[str, Any]:
    """Everything of alpha's seed, as alpha's owner sees it (and the secret's value)."""
    owner = tenants.alpha["owner"]
    project, flow = f"/api/projects/{s.project_id}", f"/api/flows/{s.flow_id}"
    tokens = ok(owner.get("/api/workspaces/current/tokens"))
    workspace_id = ok(owner.get("/api/workspaces/current"))["id"]
    with tenants.platform.db.session() as session:
        values = {
            row.name: tenants.platform.secret_box.open(
                row.ciphertext, secret_service.context(workspace_id, s.project_id, row.name)
            )
            for row in session.scalars(select(Secret).where(Secret.project_id == s.project_id))
        }
    return {
        "project": ok(owner.get(project)),
        "stages": ok(owner.get(f"{project}/stages")),
        "flows": ok(owner.get(f"{project}/flows")),
        "flow": ok(owner.get(flow)),
        "versions": ok(owner.get(f"{flow}/versions")),
        "version": ok(owner.get(f"{flow}/versions/1")),
        "secrets": ok(owner.get(f"{project}/secrets")),
        "publications": ok(owner.get(f"{project}/stages/{s.stage_name}/publications")),
        "schedules": ok(owner.get(f"{project}/schedules")),
        "values": values,
        "members": ok(owner.get("/api/workspaces/current/members")),
        # last_used_at moves whenever alpha's owner calls; the rest must not.
        "tokens": [{k: v for k, v in t.items() if k != "last_used_at"} for t in tokens],
    }


# -- the routes ------------------------------------------------------------------------

Body = Callable[[Seed], Any]


@dataclass(frozen=True)
class Case:
    method: str
    path: str  # the route's path template, exactly as FastAPI has it
    role: str  # the least role that may call it
    body: Body | None = None
    # True: the path names alpha's rows by id, so beta and guessers get 404. False: the
    # route is about the caller's own workspace, so beta gets beta's answer.
    scoped: bool = True

    @property
    def key(self) -> tuple[str, str]:
        return (self.method, self.path)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _new_email(_: Seed) -> Any:
    return {"email": f"{tag()}@example.com", "role": "viewer"}


CASES = [
    # workspaces
    Case("GET", "/api/workspaces/current", "viewer", scoped=False),
    Case("GET", "/api/workspaces/current/members", "viewer", scoped=False),
    Case("POST", "/api/workspaces/current/members", "owner", _new_email, scoped=False),
    Case(
        "PATCH", "/api/workspaces/current/members/{user_id}", "owner", lambda s: {"role": "viewer"}
    ),
    Case("DELETE", "/api/workspaces/current/members/{user_id}", "owner"),
    Case("GET", "/api/workspaces/current/tokens", "owner", scoped=False),
    Case("POST", "/api/workspaces/current/tokens", "owner", lambda s: {"name": "t"}, scoped=False),
    Case("DELETE", "/api/workspaces/current/tokens/{token_id}", "owner"),
    # projects and stages
    Case("POST", "/api/projects", "editor", lambda s: {"name": "P", "slug": tag()}, scoped=False),
    Case("GET", "/api/projects", "viewer", scoped=False),
    Case("GET", "/api/projects/{project_id}", "viewer"),
    Case("PATCH", "/api/projects/{project_id}", "editor", lambda s: {"name": "renamed"}),
    Case("DELETE", "/api/projects/{project_id}", "editor"),
    Case("GET", "/api/projects/{project_id}/stages", "viewer"),
    Case("POST", "/api/projects/{project_id}/stages", "editor", lambda s: {"name": "qa"}),
    Case("DELETE", "/api/projects/{project_id}/stages/{stage_name}", "editor"),
    # flows
    Case("POST", "/api/projects/{project_id}/flows", "editor", lambda s: {"document": HELLO}),
    Case("GET", "/api/projects/{project_id}/flows", "viewer"),
    Case("GET", "/api/flows/{flow_id}", "viewer"),
    Case(
        "PUT",
        "/api/flows/{flow_id}",
        "editor",
        lambda s: {"document": HELLO, "revision": s.revision},
    ),
    Case("DELETE", "/api/flows/{flow_id}", "editor"),
    # No body: the draft is used, so a leak would show alpha's flow in the answer.
    Case("POST", "/api/flows/{flow_id}/validate", "viewer"),
    Case("POST", "/api/flows/{flow_id}/compile", "viewer"),
    # versions
    Case("POST", "/api/flows/{flow_id}/versions", "editor", lambda s: {"note": "n"}),
    Case("GET", "/api/flows/{flow_id}/versions", "viewer"),
    Case("GET", "/api/flows/{flow_id}/versions/{number}", "viewer"),
    Case("GET", "/api/flows/{flow_id}/versions/{a}/diff/{b}", "viewer"),
    # publish
    Case(
        "POST",
        "/api/flows/{flow_id}/publish",
        "editor",
        lambda s: {"stage": s.stage_name, "version": 1},
    ),
    Case("DELETE", "/api/flows/{flow_id}/publish/{stage_name}", "editor"),
    Case(
        "POST",
        "/api/flows/{flow_id}/publish/{stage_name}/rollback",
        "editor",
        lambda s: {"version": 1},
    ),
    Case(
        "POST",
        "/api/flows/{flow_id}/promote",
        "editor",
        lambda s: {"from_stage": s.stage_name, "to_stage": "dev"},
    ),
    Case("GET", "/api/projects/{project_id}/stages/{stage_name}/publications", "viewer"),
    Case("GET", "/api/projects/{project_id}/publications", "viewer"),
    # schedules
    Case("GET", "/api/projects/{project_id}/schedules", "viewer"),
    Case("POST", "/api/projects/{project_id}/schedules/{schedule_id}/pause", "editor"),
    Case("POST", "/api/projects/{project_id}/schedules/{schedule_id}/resume", "editor"),
    # secrets
    Case(
        "POST",
        "/api/projects/{project_id}/secrets",
        "editor",
        lambda s: {"name": "NEW", "value": "v"},
    ),
    Case("GET", "/api/projects/{project_id}/secrets", "viewer"),
    Case("PUT", "/api/projects/{project_id}/secrets/{name}", "editor", lambda s: {"value": "v2"}),
    Case("DELETE", "/api/projects/{project_id}/secrets/{name}", "editor"),
    # the catalogue is the same for everyone; it only needs a credential
    Case("GET", "/api/nodes", "viewer", scoped=False),
]

# Routes that are not the resource API's, and why they are not in CASES.
PUBLIC = {
    ("GET", "/api/health"): "liveness; says nothing about any workspace",
    ("POST", "/api/auth/login"): "takes a password; answers only about that user",
    ("GET", "/api/auth/link"): "takes a one-time login link; answers only about its owner",
    ("GET", "/api/openapi.json"): "the API's description",
    ("GET", "/api/docs"): "the API's description",
    ("GET", "/docs/oauth2-redirect"): "part of the docs page",
}
OWN_CREDENTIAL = {
    ("GET", "/api/auth/me"): "answers about the caller's own credential (test_auth.py)",
    ("POST", "/api/auth/logout"): "ends the caller's own session (test_auth.py)",
}
# Runs, their events and sockets have their own two-workspace tests beside the run code.
ELSEWHERE_TAGS = {"runs"}
ELSEWHERE_PATH_PREFIXES = ("/api/ws/",)


def request(api: Api, case: Case, params: dict[str, Any], s: Seed) -> Any:
    url = case.path.format(**params)
    body = case.body(s) if case.body else None
    return api.request(case.method, url, json=body)


def assert_no_leak(response: Any, s: Seed) -> None:
    leaked = sorted(m for m in s.markers if m in response.text)
    assert not leaked, f"{response.request.method} {response.request.url} leaked {leaked}"


@pytest.mark.parametrize("case", CASES, ids=str)
def test_route_is_isolated(tenants: Tenants, case: Case) -> None:
    owner = tenants.alpha["owner"]
    s = seed(owner)
    before = snapshot(tenants, s)

    anonymous = request(tenants.anonymous, case, s.params(), s)
    assert anonymous.status_code == 401
    assert_no_leak(anonymous, s)

    from_beta = request(tenants.beta, case, s.params(), s)
    assert_no_leak(from_beta, s)
    if case.scoped:
        assert from_beta.status_code == 404, from_beta.text
        assert from_beta.json()["error"]["code"] == "not_found"
        guessed = request(owner, case, s.guessed(), s)
        assert guessed.status_code == 404, guessed.text
    else:
        assert from_beta.status_code in (200, 201), from_beta.text

    for role in ROLES_BELOW[case.role]:
        refused = request(tenants.alpha[role], case, s.params(), s)
        assert refused.status_code == 403, f"{role}: {refused.text}"
        assert refused.json()["error"]["code"] == "forbidden"
        assert_no_leak(refused, s)

    assert snapshot(tenants, s) == before

    allowed = request(tenants.alpha[case.role], case, s.params(), s)
    assert allowed.status_code in (200, 201, 204), allowed.text


def test_lists_never_hold_the_other_workspaces_rows(tenants: Tenants) -> None:
    alpha, beta = seed(tenants.alpha["owner"]), seed(tenants.beta)
    for api, own, other in ((tenants.alpha["owner"], alpha, beta), (tenants.beta, beta, alpha)):
        projects = ok(api.get("/api/projects", params={"limit": 500}))
        ids = {p["id"] for p in projects["items"]}
        assert own.project_id in ids and other.project_id not in ids
        listings = [
            api.get("/api/projects", params={"limit": 500}),
            api.get(f"/api/projects/{own.project_id}/flows"),
            api.get(f"/api/projects/{own.project_id}/secrets"),
            api.get(f"/api/projects/{own.project_id}/stages"),
            api.get(f"/api/flows/{own.flow_id}/versions"),
            api.get(f"/api/projects/{own.project_id}/stages/{own.stage_name}/publications"),
            api.get(f"/api/projects/{own.project_id}/publications"),
            api.get(f"/api/projects/{own.project_id}/schedules"),
            api.get("/api/workspaces/current/members"),
            api.get("/api/workspaces/current/tokens"),
        ]
        for response in listings:
            assert response.status_code == 200
            assert_no_leak(response, other)


def test_every_route_is_covered(tmp_path: Path) -> None:
    app = create_app(Platform(load_settings(data_dir=tmp_path)), migrate=False)
    covered = {case.key for case in CASES}
    assert len(covered) == len(CASES), "a route is in CASES twice"
    missing, stale = [], covered.copy()
    for method, path, tags in _routes(app.routes):
        key = (method, path)
        stale.discard(key)
        if key in covered or key in PUBLIC or key in OWN_CREDENTIAL:
            continue
        if ELSEWHERE_TAGS & set(tags) or path.startswith(ELSEWHERE_PATH_PREFIXES):
            continue
        missing.append(f"{method} {path}")
    assert not missing, f"routes without an isolation case: {missing}"
    assert not stale, f"cases for routes that no longer exist: {sorted(stale)}"


def _routes(routes: list[Any]) -> Iterator[tuple[str, str, list[str]]]:
    """(method, path, tags) of every route, through included routers (FastAPI includes
    routers lazily, so ``app.routes`` alone does not list their routes)."""
    for context in iter_route_contexts(routes):
        route, path = context.original_route, str(context.path)
        if isinstance(route, APIWebSocketRoute):
            yield "WS", path, []
        elif isinstance(route, Route):
            tags = [str(t) for t in getattr(context, "tags", None) or ()]
            for method in sorted(context.methods or ()):
                if method != "HEAD":
                    yield method, path, tags
        else:  # a mount or another kind of route: it needs a decision here
            yield type(route).__name__, path, []
