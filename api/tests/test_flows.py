"""Flows: drafts in canonical form, optimistic locking, size limits, search, validate and
the compile preview."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from apikit import Api, client_for, new_workspace, platform_for

from plait.node_runner.compiler import compile_flow
from plait.node_runner.flow import flow_to_dict, load_flow

HELLO: dict[str, Any] = json.loads(
    (Path(__file__).parents[2] / "examples" / "hello.json").read_text()
)


def new_project(api: Api, slug: str = "shop") -> str:
    response = api.post("/api/projects", json={"name": slug.title(), "slug": slug})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def new_flow(api: Api, project_id: str, **body: Any) -> dict[str, Any]:
    body.setdefault("document", HELLO)
    response = api.post(f"/api/projects/{project_id}/flows", json=body)
    assert response.status_code == 201, response.text
    flow: dict[str, Any] = response.json()
    return flow


def test_create_stores_the_canonical_document(any_api: Api) -> None:
    project_id = new_project(any_api)
    verbose = copy.deepcopy(HELLO)
    verbose["nodes"][0].update(position={"x": 0, "y": 0}, retry={"max_attempts": 1})
    response = any_api.post(f"/api/projects/{project_id}/flows", json={"document": verbose})
    assert response.status_code == 201
    flow = response.json()
    assert set(flow) == {
        "id",
        "project_id",
        "name",
        "revision",
        "document",
        "created_at",
        "updated_at",
    }
    assert (flow["project_id"], flow["name"], flow["revision"]) == (project_id, "Hello", 1)
    assert flow["document"] == flow_to_dict(load_flow(HELLO))  # the defaults are gone
    assert any_api.get(f"/api/flows/{flow['id']}").json() == flow


def test_the_name_and_the_document_name_are_one(api: Api) -> None:
    project_id = new_project(api)
    named = new_flow(api, project_id, name="Greeter")
    assert named["name"] == named["document"]["name"] == "Greeter"
    empty = api.post(f"/api/projects/{project_id}/flows", json={"name": "Blank"}).json()
    assert empty["document"] == {"schema_version": 1, "name": "Blank", "nodes": [], "edges": []}
    nameless = api.post(f"/api/projects/{project_id}/flows", json={})
    assert nameless.status_code == 422
    assert nameless.json()["error"]["code"] == "invalid_document"
    renamed = api.put(
        f"/api/flows/{named['id']}", json={"document": HELLO, "revision": 1, "name": "Hi"}
    ).json()
    assert renamed["name"] == renamed["document"]["name"] == "Hi"
    followed = api.put(f"/api/flows/{named['id']}", json={"document": HELLO, "revision": 2}).json()
    assert followed["name"] == "Hello"


def test_an_unfinished_draft_is_saved_but_a_malformed_document_is_not(api: Api) -> None:
    project_id = new_project(api)
    draft = copy.deepcopy(HELLO)
    draft["nodes"].append({"id": "wip", "type": "not.yet.chosen"})
    assert new_flow(api, project_id, document=draft)["document"]["nodes"][-1]["id"] == "wip"

    broken = copy.deepcopy(HELLO)
    del broken["nodes"][1]["type"]
    response = api.post(f"/api/projects/{project_id}/flows", json={"document": broken})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_document"
    assert "nodes.1.type" in error["message"]
    assert error["details"]["problems"][0] == {
        "code": "invalid_document",
        "message": "nodes.1.type: Field required",
        "node_id": "greet",
        "edge_id": None,
        "field": "nodes.1.type",
        "severity": "error",
    }


def test_non_finite_numbers_are_refused(api: Api) -> None:
    project_id = new_project(api)
    text = json.dumps({"document": {**HELLO, "meta": {"zoom": float("nan")}}})
    response = api.post(
        f"/api/projects/{project_id}/flows",
        content=text.encode(),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["error"]["message"] == "meta.zoom: not a finite JSON number"


def test_flow_documents_have_a_size_limit(tmp_path: Path) -> None:
    with (
        platform_for("sqlite", tmp_path / "small", max_flow_bytes=2048) as platform,
        client_for(platform) as client,
    ):
        api = Api(client, new_workspace(platform, "alpha"))
        project_id = new_project(api)
        flow = new_flow(api, project_id)
        big = {**HELLO, "description": "x" * 3000}
        for response in (
            api.post(f"/api/projects/{project_id}/flows", json={"document": big}),
            api.put(f"/api/flows/{flow['id']}", json={"document": big, "revision": 1}),
            api.post(f"/api/flows/{flow['id']}/validate", json={"document": big}),
            api.post(f"/api/flows/{flow['id']}/compile", json={"document": big}),
        ):
            assert response.status_code == 413
            error = response.json()["error"]
            assert error["code"] == "too_large" and error["details"]["limit"] == 2048
            assert "the limit is 2048 bytes" in error["message"]


def test_every_update_increments_the_revision_and_stale_ones_get_409(any_api: Api) -> None:
    flow = new_flow(any_api, new_project(any_api))
    url = f"/api/flows/{flow['id']}"
    changed = {**HELLO, "description": "v2"}
    first = any_api.put(url, json={"document": changed, "revision": 1})
    assert first.status_code == 200 and first.json()["revision"] == 2
    assert first.json()["updated_at"] >= flow["updated_at"]
    same = any_api.put(url, json={"document": changed, "revision": 2})
    assert same.json()["revision"] == 3  # an accepted update is a new revision, changed or not
    stale = any_api.put(url, json={"document": HELLO, "revision": 2})
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "conflict"
    assert stale.json()["error"]["details"] == {"current_revision": 3}
    current = any_api.get(url).json()
    assert current["revision"] == 3 and current["document"]["description"] == "v2"
    assert any_api.put(url, json={"document": HELLO, "revision": 99}).status_code == 409


def test_list_searches_names_and_pages_without_documents(any_api: Api) -> None:
    project_id = new_project(any_api)
    for name in ["Orders sync", "orders report", "Invoices", "100% done", "under_score"]:
        new_flow(any_api, project_id, name=name)
    flows = f"/api/projects/{project_id}/flows"

    def names(**params: Any) -> list[str]:
        page = any_api.get(flows, params=params).json()
        assert all("document" not in item for item in page["items"])
        return [item["name"] for item in page["items"]]

    assert names() == ["100% done", "Invoices", "orders report", "Orders sync", "under_score"]
    assert names(q="ORDERS") == ["orders report", "Orders sync"]
    assert names(q="%") == ["100% done"]  # LIKE wildcards are matched literally
    assert names(q="_") == ["under_score"]
    assert names(q="nothing") == []
    page = any_api.get(flows, params={"limit": 2, "offset": 1}).json()
    assert [i["name"] for i in page["items"]] == ["Invoices", "orders report"]
    assert page["total"] == 5
    assert any_api.get(flows, params={"q": "orders", "limit": 1}).json()["total"] == 2


def test_delete(api: Api) -> None:
    flow = new_flow(api, new_project(api))
    assert api.delete(f"/api/flows/{flow['id']}").status_code == 204
    assert api.get(f"/api/flows/{flow['id']}").status_code == 404
    assert api.delete(f"/api/flows/{flow['id']}").status_code == 404


def test_malformed_and_unknown_ids_are_refused(api: Api) -> None:
    assert api.get("/api/flows/nope").status_code == 422
    assert api.get("/api/flows/" + "0" * 32).status_code == 404
    assert api.post("/api/projects/" + "0" * 32 + "/flows", json={"name": "x"}).status_code == 404


def test_validate_the_draft_or_a_given_document(any_api: Api) -> None:
    flow = new_flow(any_api, new_project(any_api))
    url = f"/api/flows/{flow['id']}/validate"
    assert any_api.post(url).json() == {"valid": True, "problems": []}
    assert any_api.post(url, json={}).json()["valid"] is True

    broken = copy.deepcopy(HELLO)
    broken["edges"][0]["target"] = "ghost"
    result = any_api.post(url, json={"document": broken}).json()
    assert result["valid"] is False
    assert ("missing_node", "e1") in [(p["code"], p["edge_id"]) for p in result["problems"]]

    not_a_flow = any_api.post(url, json={"document": {"nodes": "many"}}).json()
    assert not_a_flow["valid"] is False
    assert {p["code"] for p in not_a_flow["problems"]} == {"invalid_document"}

    # Warnings do not make a flow invalid.
    lonely = copy.deepcopy(HELLO)
    lonely["nodes"].append({"id": "alone", "type": "data.template", "params": {"template": "x"}})
    warned = any_api.post(url, json={"document": lonely}).json()
    assert warned["valid"] is True
    assert [p["severity"] for p in warned["problems"]] == ["warning"]
    # Validating changes nothing.
    assert any_api.get(f"/api/flows/{flow['id']}").json()["revision"] == 1


def test_compile_preview(any_api: Api, any_platform: Any) -> None:
    flow = new_flow(any_api, new_project(any_api))
    url = f"/api/flows/{flow['id']}/compile"
    preview = any_api.post(url)
    assert preview.status_code == 200
    body = preview.json()
    bundle = compile_flow(HELLO, any_platform.registry)
    assert body["bundle_id"] == bundle.id
    assert body["flow_py"] == bundle.source
    assert body["manifest"] == bundle.manifest and body["warnings"] == []

    broken = copy.deepcopy(HELLO)
    broken["nodes"][1]["type"] = "data.nope"
    refused = any_api.post(url, json={"document": broken})
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "invalid_flow"
    assert [p["code"] for p in error["details"]["problems"]] == ["unknown_node_type"]
    malformed = any_api.post(url, json={"document": {"name": "x", "nodes": [{}]}})
    assert malformed.json()["error"]["code"] == "invalid_document"


def test_viewers_read_validate_and_compile_but_do_not_write(api: Api, platform: Any) -> None:
    project_id = new_project(api)
    flow = new_flow(api, project_id)
    viewer = api.as_token(new_workspace(platform, "alpha", "viewer"))
    assert viewer.get(f"/api/flows/{flow['id']}").status_code == 200
    assert viewer.get(f"/api/projects/{project_id}/flows").json()["total"] == 1
    assert viewer.post(f"/api/flows/{flow['id']}/validate").status_code == 200
    assert viewer.post(f"/api/flows/{flow['id']}/compile").status_code == 200
    for response in (
        viewer.post(f"/api/projects/{project_id}/flows", json={"name": "x"}),
        viewer.put(f"/api/flows/{flow['id']}", json={"document": HELLO, "revision": 1}),
        viewer.delete(f"/api/flows/{flow['id']}"),
    ):
        assert response.status_code == 403


@pytest.mark.parametrize("field", ["id", "created_at", "nonsense"])
def test_unknown_body_fields_are_refused(api: Api, field: str) -> None:
    flow = new_flow(api, new_project(api))
    body = {"document": HELLO, "revision": 1, field: "x"}
    response = api.put(f"/api/flows/{flow['id']}", json=body)
    assert response.status_code == 422 and field in response.json()["error"]["message"]


def test_two_saves_of_the_same_revision_cannot_both_win(any_api: Api, any_platform: Any) -> None:
    from plait.api.errors import ApiError
    from plait.api.services import flows as service

    flow = new_flow(any_api, new_project(any_api))
    workspace_id = any_api.get("/api/workspaces/current").json()["id"]
    document = service.canonical(HELLO, any_platform.registry, max_bytes=10_000)
    # Both sessions read revision 1 before either writes: the check in Python passes for
    # both, so only the compare-and-set UPDATE can keep the second from winning too.
    with any_platform.db.sessions() as first, any_platform.db.sessions() as second:
        mine = service.get(first, workspace_id, flow["id"])
        theirs = service.get(second, workspace_id, flow["id"])
        service.update_draft(first, mine, document, 1)
        first.commit()
        with pytest.raises(ApiError) as refused:
            service.update_draft(second, theirs, document, 1)
        assert refused.value.status == 409 and refused.value.details == {"current_revision": 2}
    assert any_api.get(f"/api/flows/{flow['id']}").json()["revision"] == 2
