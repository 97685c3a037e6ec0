"""Versions: cut from a valid draft, numbered, immutable, compiled, diffed as JSON patches."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonpatch
from apikit import Api, client_for

from plait.api.services import auth
from plait.node_runner.compiler import compile_flow

HELLO: dict[str, Any] = json.loads(
    (Path(__file__).parents[2] / "examples" / "hello.json").read_text()
)


def new_flow(api: Api, document: dict[str, Any] = HELLO) -> dict[str, Any]:
    project = api.post("/api/projects", json={"name": "Shop", "slug": "shop"}).json()
    response = api.post(f"/api/projects/{project['id']}/flows", json={"document": document})
    assert response.status_code == 201, response.text
    flow: dict[str, Any] = response.json()
    return flow


def save(api: Api, flow_id: str, document: dict[str, Any]) -> None:
    revision = api.get(f"/api/flows/{flow_id}").json()["revision"]
    response = api.put(f"/api/flows/{flow_id}", json={"document": document, "revision": revision})
    assert response.status_code == 200, response.text


def test_versions_are_numbered_compiled_snapshots_of_the_draft(
    any_api: Api, any_platform: Any
) -> None:
    flow = new_flow(any_api)
    versions = f"/api/flows/{flow['id']}/versions"
    first = any_api.post(versions, json={"note": "first cut"})
    assert first.status_code == 201
    v1 = first.json()
    assert (v1["number"], v1["note"], v1["flow_id"]) == (1, "first cut", flow["id"])
    assert v1["document"] == flow["document"]
    assert v1["bundle_id"] == compile_flow(HELLO, any_platform.registry).id

    changed = {**HELLO, "description": "second"}
    save(any_api, flow["id"], changed)
    v2 = any_api.post(versions).json()  # the note is optional
    assert (v2["number"], v2["note"]) == (2, "")
    assert v2["bundle_id"] == compile_flow(changed, any_platform.registry).id != v1["bundle_id"]

    # A version never changes, whatever happens to the draft afterwards.
    save(any_api, flow["id"], {**HELLO, "description": "third"})
    assert any_api.get(f"{versions}/1").json() == v1
    assert any_api.get(f"{versions}/2").json()["document"]["description"] == "second"
    assert any_api.get(f"{versions}/3").status_code == 404

    page = any_api.get(versions).json()
    assert [v["number"] for v in page["items"]] == [2, 1] and page["total"] == 2
    assert all("document" not in v for v in page["items"])
    assert [v["number"] for v in any_api.get(versions, params={"offset": 1}).json()["items"]] == [1]


def test_an_invalid_draft_cannot_become_a_version(api: Api) -> None:
    draft = copy.deepcopy(HELLO)
    draft["nodes"][1]["params"] = {}  # data.template needs its template
    flow = new_flow(api, draft)
    response = api.post(f"/api/flows/{flow['id']}/versions", json={})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_flow"
    problem = error["details"]["problems"][0]
    assert (problem["code"], problem["node_id"]) == ("invalid_params", "greet")
    # Versions are what gets published, so a flow without a trigger is refused too.
    untriggered = {**HELLO, "nodes": HELLO["nodes"][1:], "edges": []}
    save(api, flow["id"], untriggered)
    codes = [
        p["code"]
        for p in api.post(f"/api/flows/{flow['id']}/versions").json()["error"]["details"][
            "problems"
        ]
    ]
    assert "no_trigger" in codes
    assert api.get(f"/api/flows/{flow['id']}/versions").json()["total"] == 0


def test_diff_is_a_json_patch_from_a_to_b(any_api: Api) -> None:
    flow = new_flow(any_api)
    versions = f"/api/flows/{flow['id']}/versions"
    any_api.post(versions)
    changed = copy.deepcopy(HELLO)
    changed["nodes"][1]["params"]["template"] = "Hi {{ input.name }}"
    changed["nodes"].append({"id": "more", "type": "data.template", "params": {"template": "x"}})
    changed["edges"].append(
        {"id": "e2", "source": "greet", "source_port": "text", "target": "more",
         "target_port": "input"}
    )  # fmt: skip
    save(any_api, flow["id"], changed)
    any_api.post(versions)
    v1, v2 = (any_api.get(f"{versions}/{n}").json()["document"] for n in (1, 2))

    forward = any_api.get(f"{versions}/1/diff/2")
    assert forward.status_code == 200
    assert jsonpatch.apply_patch(v1, forward.json()) == v2
    assert {
        "op": "replace",
        "path": "/nodes/1/params/template",
        "value": "Hi {{ input.name }}",
    } in (forward.json())
    backward = any_api.get(f"{versions}/2/diff/1").json()
    assert jsonpatch.apply_patch(v2, backward) == v1
    assert any_api.get(f"{versions}/2/diff/2").json() == []
    assert any_api.get(f"{versions}/1/diff/9").status_code == 404
    assert any_api.get(f"{versions}/0/diff/1").status_code == 422


def test_a_patch_keeps_null_values_and_the_from_of_moves(api: Api) -> None:
    flow = new_flow(api, {**HELLO, "meta": {"old": {"x": [1, 2, 3]}, "gone": 1}})
    api.post(f"/api/flows/{flow['id']}/versions")
    save(api, flow["id"], {**HELLO, "meta": {"new": {"x": [1, 2, 3]}, "gone": None}})
    api.post(f"/api/flows/{flow['id']}/versions")
    patch = api.get(f"/api/flows/{flow['id']}/versions/1/diff/2").json()
    assert {"op": "move", "from": "/meta/old", "path": "/meta/new"} in patch
    assert {"op": "replace", "path": "/meta/gone", "value": None} in patch


def test_the_author_is_the_user_behind_the_credential(platform: Any) -> None:
    with platform.db.session() as session:
        workspace = auth.get_or_create_workspace(session, "alpha")
        user = auth.create_user(session, "ada@example.com")
        auth.add_member(session, workspace.id, user.id, "editor")
        token, _ = auth.issue_token(session, workspace.id, "editor", user_id=user.id)
    with client_for(platform) as client:
        api = Api(client, token)
        flow = new_flow(api)
        version = api.post(f"/api/flows/{flow['id']}/versions").json()
        assert version["author_id"] == user.id


def test_viewers_cannot_cut_versions(api: Api, platform: Any) -> None:
    from apikit import new_workspace

    flow = new_flow(api)
    api.post(f"/api/flows/{flow['id']}/versions")
    viewer = api.as_token(new_workspace(platform, "alpha", "viewer"))
    assert viewer.post(f"/api/flows/{flow['id']}/versions").status_code == 403
    assert viewer.get(f"/api/flows/{flow['id']}/versions/1").status_code == 200
    assert viewer.get(f"/api/flows/{flow['id']}/versions/1/diff/1").json() == []
