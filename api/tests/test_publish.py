"""Publishing: versions on stages with their routes and schedules, conflicts refused,
unpublish, history, rollback and promotion, on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from apikit import Api, new_workspace
from sqlalchemy import select

from plait.api.bundles import BundleCache, has_bundle, load_bundle
from plait.api.db.models import Publication, RouteEntry, ScheduleEntry
from plait.api.services import publish as service


def webhook_flow(
    path: str, method: str = "GET", name: str = "Greet", **params: Any
) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "name": name,
        "nodes": [
            {
                "id": "hook",
                "type": "trigger.webhook",
                "version": 1,
                "params": {"method": method, "path": path, **params},
            },
            {
                "id": "reply",
                "type": "http.respond",
                "version": 1,
                "params": {"status": 200, "body": "Hello {{ inputs.input.name }}"},
            },
        ],
        "edges": [
            {
                "id": "e1",
                "source": "hook",
                "source_port": "path_params",
                "target": "reply",
                "target_port": "input",
            }
        ],
    }


def with_schedule(document: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(document)
    doc["nodes"] += [
        {
            "id": "tick",
            "type": "trigger.schedule",
            "version": 1,
            "params": {"cron": "0 9 * * MON-FRI", "timezone": "Europe/Paris"},
        },
        {"id": "note", "type": "data.template", "version": 1, "params": {"template": "tick"}},
    ]
    doc["edges"].append(
        {"id": "e2", "source": "tick", "source_port": "fired_at", "target": "note",
         "target_port": "input"}
    )  # fmt: skip
    return doc


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def new_project(api: Api, slug: str = "shop") -> dict[str, Any]:
    return ok(api.post("/api/projects", json={"name": slug.title(), "slug": slug}), 201)  # type: ignore[no-any-return]


def new_flow(api: Api, project: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    url = f"/api/projects/{project['id']}/flows"
    return ok(api.post(url, json={"document": document}), 201)  # type: ignore[no-any-return]


def save(api: Api, flow_id: str, document: dict[str, Any]) -> None:
    revision = ok(api.get(f"/api/flows/{flow_id}"))["revision"]
    ok(api.put(f"/api/flows/{flow_id}", json={"document": document, "revision": revision}))


def publish(api: Api, flow_id: str, stage: str = "prod", **body: Any) -> Any:
    return api.post(f"/api/flows/{flow_id}/publish", json={"stage": stage, **body})


def history(api: Api, project: dict[str, Any], stage: str = "prod") -> list[dict[str, Any]]:
    return ok(api.get(f"/api/projects/{project['id']}/stages/{stage}/publications"))["items"]  # type: ignore[no-any-return]


def test_publish_cuts_a_version_and_answers_with_the_routes_urls(
    any_api: Api, any_platform: Any
) -> None:
    project = new_project(any_api)
    flow = new_flow(any_api, project, webhook_flow("/hello/{name}"))
    published = ok(publish(any_api, flow["id"]))
    assert (published["version"], published["stage"], published["active"]) == (1, "prod", True)
    assert published["action"] == "publish" and published["flow_name"] == "Greet"
    assert published["routes"] == [
        {
            "method": "GET",
            "path": "/hello/{name}",
            "url": "http://shop-prod.localhost:8080/hello/{name}",
            "node_id": "hook",
            "mode": "sync",
        }
    ]
    assert published["schedules"] == []
    # The version was cut from the draft, and its bundle is in the blob store.
    versions = ok(any_api.get(f"/api/flows/{flow['id']}/versions"))["items"]
    assert [v["number"] for v in versions] == [1]
    assert versions[0]["bundle_id"] == published["bundle_id"]
    assert has_bundle(any_platform.blobs, published["bundle_id"])
    bundle = load_bundle(any_platform.blobs, published["bundle_id"], bundles=BundleCache())
    assert bundle.manifest["routes"][0]["path"] == "/hello/{name}"

    # Publishing an existing version cuts nothing new.
    again = ok(publish(any_api, flow["id"], stage="dev", version=1))
    assert again["version"] == 1 and again["routes"][0]["url"].startswith("http://shop-dev.")
    assert ok(any_api.get(f"/api/flows/{flow['id']}/versions"))["total"] == 1
    assert publish(any_api, flow["id"], version=9).status_code == 404
    assert publish(any_api, flow["id"], stage="qa").status_code == 404


def test_republishing_replaces_the_flows_publication(any_api: Api, any_platform: Any) -> None:
    project = new_project(any_api)
    flow = new_flow(any_api, project, webhook_flow("/hello/{name}"))
    ok(publish(any_api, flow["id"]))
    save(any_api, flow["id"], webhook_flow("/greet/{name}", method="POST"))
    second = ok(publish(any_api, flow["id"]))
    assert second["version"] == 2
    assert [(r["method"], r["path"]) for r in second["routes"]] == [("POST", "/greet/{name}")]

    items = history(any_api, project)
    assert [(p["version"], p["active"]) for p in items] == [(2, True), (1, False)]
    assert items[1]["unpublished_at"] is not None and items[0]["unpublished_at"] is None
    with any_platform.db.sessions() as session:
        routes = service.active_routes(session, "shop", "prod")
        assert [(r.method, r.path, r.version) for r in routes] == [("POST", "/greet/{name}", 2)]


def test_routes_the_ranking_cannot_order_are_refused_naming_both(any_api: Api) -> None:
    project = new_project(any_api)
    first = new_flow(any_api, project, webhook_flow("/hello/{name}", name="Hello"))
    ok(publish(any_api, first["id"]))
    # Static text outranks a variable: both live on the stage.
    me = new_flow(any_api, project, webhook_flow("/hello/me", name="Me"))
    ok(publish(any_api, me["id"]))
    typed = new_flow(any_api, project, webhook_flow("/hello/{n:int}", name="Typed"))
    ok(publish(any_api, typed["id"]))
    # Another method is another route.
    posted = new_flow(any_api, project, webhook_flow("/hello/{x}", method="POST", name="Post"))
    ok(publish(any_api, posted["id"]))

    clash = new_flow(any_api, project, webhook_flow("/hello/{who}", name="Clash"))
    refused = publish(any_api, clash["id"])
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["code"] == "route_conflict"
    assert "Clash" in error["message"] and "Hello" in error["message"]
    assert "/hello/{who}" in error["message"] and "/hello/{name}" in error["message"]
    assert error["details"]["route"] == {
        "flow_id": clash["id"],
        "flow_name": "Clash",
        "node_id": "hook",
        "method": "GET",
        "path": "/hello/{who}",
    }
    assert error["details"]["conflicts_with"]["flow_id"] == first["id"]
    assert error["details"]["conflicts_with"]["path"] == "/hello/{name}"
    # Nothing changed: no publication, and the refused flow's version was not kept either.
    assert len(history(any_api, project)) == 4
    assert ok(any_api.get(f"/api/flows/{clash['id']}/versions"))["total"] == 0
    # The same route on another stage is no conflict; nor is a flow replacing its own.
    ok(publish(any_api, clash["id"], stage="dev"))
    save(any_api, first["id"], webhook_flow("/hello/{name2}", name="Hello"))
    ok(publish(any_api, first["id"]))


def test_an_invalid_flow_or_route_is_refused_with_422(api: Api) -> None:
    project = new_project(api)
    document = webhook_flow("/hello/{name}")
    document["nodes"][1]["params"] = {"status": "teapot"}
    flow = new_flow(api, project, document)
    refused = publish(api, flow["id"])
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "invalid_flow" and error["details"]["problems"]
    # HEAD follows GET in the router; a route cannot declare it.
    save(api, flow["id"], webhook_flow("/hello", method="HEAD"))
    refused = publish(api, flow["id"])
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "invalid_route"
    assert history(api, project) == []


def test_unpublish_history_rollback_and_promotion(any_api: Api, any_platform: Any) -> None:
    project = new_project(any_api)
    flow = new_flow(any_api, project, webhook_flow("/v/{name}"))
    ok(publish(any_api, flow["id"], stage="dev"))
    save(any_api, flow["id"], webhook_flow("/v2/{name}"))
    ok(publish(any_api, flow["id"], stage="dev"))

    promoted = ok(
        any_api.post(
            f"/api/flows/{flow['id']}/promote", json={"from_stage": "dev", "to_stage": "prod"}
        )
    )
    assert (promoted["version"], promoted["stage"], promoted["action"]) == (2, "prod", "promote")
    assert promoted["routes"][0]["url"] == "http://shop-prod.localhost:8080/v2/{name}"

    rollback = f"/api/flows/{flow['id']}/publish/dev/rollback"
    rolled = ok(any_api.post(rollback, json={"version": 1}))
    assert (rolled["version"], rolled["action"], rolled["routes"][0]["path"]) == (
        1,
        "rollback",
        "/v/{name}",
    )
    # Only a version once published on that stage can be rolled back to.
    save(any_api, flow["id"], webhook_flow("/v3/{name}"))
    ok(any_api.post(f"/api/flows/{flow['id']}/versions"), 201)
    assert any_api.post(rollback, json={"version": 3}).status_code == 404
    items = history(any_api, project, "dev")
    assert [(p["version"], p["action"], p["active"]) for p in items] == [
        (1, "rollback", True),
        (2, "publish", False),
        (1, "publish", False),
    ]
    page = any_api.get(
        f"/api/projects/{project['id']}/stages/dev/publications", params={"limit": 1, "offset": 1}
    ).json()
    assert page["total"] == 3 and [p["version"] for p in page["items"]] == [2]

    listing = ok(any_api.get(f"/api/projects/{project['id']}/publications"))
    assert [(p["stage"], p["version"]) for p in listing] == [("dev", 1), ("prod", 2)]

    unpublish = f"/api/flows/{flow['id']}/publish/dev"
    assert any_api.delete(unpublish).status_code == 204
    assert any_api.delete(unpublish).status_code == 404
    assert [p["active"] for p in history(any_api, project, "dev")] == [False] * 3
    with any_platform.db.sessions() as session:
        assert service.active_routes(session, "shop", "dev") == []
        assert [r.path for r in service.active_routes(session, "shop", "prod")] == ["/v2/{name}"]
    promote = f"/api/flows/{flow['id']}/promote"
    assert any_api.post(promote, json={"from_stage": "dev"}).status_code == 404
    assert any_api.post(promote, json={"from_stage": "prod", "to_stage": "prod"}).status_code == 422


def test_schedules_and_route_params_are_stored(any_api: Api, any_platform: Any) -> None:
    project = new_project(any_api)
    document = with_schedule(
        webhook_flow(
            "/orders/{id:int}",
            method="POST",
            mode="async",
            auth={"kind": "hmac", "secret": "SIGNING_KEY"},
            cors={"allow_origins": ["https://app.example.com"]},
            rate_limit={"requests": 5, "per_s": 1},
            timeout_s=12,
        )
    )
    flow = new_flow(any_api, project, document)
    published = ok(publish(any_api, flow["id"]))
    assert published["schedules"] == [
        {"node_id": "tick", "cron": "0 9 * * MON-FRI", "timezone": "Europe/Paris"}
    ]
    assert published["routes"][0]["mode"] == "async"

    with any_platform.db.sessions() as session:
        (route,) = service.active_routes(session, "shop", "prod")
        assert (route.flow_id, route.flow_name, route.version) == (flow["id"], "Greet", 1)
        assert route.bundle_id == published["bundle_id"]
        assert route.project_slug == "shop" and route.stage == "prod"
        assert route.params["auth"]["kind"] == "hmac"
        assert route.params["auth"]["secret"] == "SIGNING_KEY"
        assert route.params["cors"]["allow_origins"] == ["https://app.example.com"]
        assert route.params["rate_limit"] == {"requests": 5, "per_s": 1.0}
        assert route.params["timeout_s"] == 12
        workspace_id = session.scalar(
            select(Publication.workspace_id).where(Publication.id == route.publication_id)
        )
        assert route.workspace_id == workspace_id
        schedule = session.scalar(select(ScheduleEntry))
        assert schedule is not None and schedule.params["cron"] == "0 9 * * MON-FRI"
        assert session.scalar(select(RouteEntry.mode)) == "async"
    # An unknown project or stage serves nothing.
    with any_platform.db.sessions() as session:
        assert service.active_routes(session, "nope", "prod") == []
        assert service.active_routes(session, "shop", "qa") == []


def test_viewers_read_but_do_not_publish(api: Api, platform: Any) -> None:
    project = new_project(api)
    flow = new_flow(api, project, webhook_flow("/hello/{name}"))
    ok(publish(api, flow["id"]))
    viewer = api.as_token(new_workspace(platform, "alpha", "viewer"))
    refused = publish(viewer, flow["id"])
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert viewer.delete(f"/api/flows/{flow['id']}/publish/prod").status_code == 403
    assert len(history(viewer, project)) == 1
    # Another workspace sees nothing of it.
    beta = api.as_token(new_workspace(platform, "beta"))
    assert publish(beta, flow["id"]).status_code == 404
    assert beta.get(f"/api/projects/{project['id']}/stages/prod/publications").status_code == 404


def test_changes_tell_the_route_cache(
    api: Api, platform: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, str]] = []

    class RouteEvents:
        def invalidate(self, project_slug: str, stage: str) -> None:
            seen.append((project_slug, stage))

        async def stop(self) -> None:
            pass

    events = getattr(platform, "route_events", None)
    if events is None:
        platform.route_events = RouteEvents()
    else:  # the router's own, set when the app started: listen in on it
        real = events.invalidate

        def invalidate(project_slug: str, stage: str) -> None:
            seen.append((project_slug, stage))
            real(project_slug, stage)

        monkeypatch.setattr(events, "invalidate", invalidate)
    project = new_project(api)
    flow = new_flow(api, project, webhook_flow("/hello/{name}"))
    ok(publish(api, flow["id"], stage="dev"))
    ok(api.post(f"/api/flows/{flow['id']}/promote", json={}))
    ok(api.post(f"/api/flows/{flow['id']}/publish/prod/rollback", json={"version": 1}))
    assert api.delete(f"/api/flows/{flow['id']}/publish/dev").status_code == 204
    assert seen == [("shop", "dev"), ("shop", "prod"), ("shop", "prod"), ("shop", "dev")]
    # A refused publish tells nothing.
    other = new_flow(api, project, webhook_flow("/hello/{x}", name="Other"))
    assert publish(api, other["id"]).status_code == 409
    assert len(seen) == 4
