"""Projects and stages: slugs, the built-in stages, renaming, deleting."""

from __future__ import annotations

from typing import Any

import pytest
from apikit import Api, new_workspace


def new_project(api: Api, slug: str = "shop", name: str = "Shop") -> dict[str, Any]:
    response = api.post("/api/projects", json={"name": name, "slug": slug})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_project_is_born_with_dev_and_prod(any_api: Api) -> None:
    project = new_project(any_api)
    assert project["slug"] == "shop" and project["name"] == "Shop"
    assert project["created_at"].endswith("Z")
    stages = any_api.get(f"/api/projects/{project['id']}/stages").json()
    assert [s["name"] for s in stages] == ["dev", "prod"]
    assert all(s["project_id"] == project["id"] for s in stages)


@pytest.mark.parametrize(
    "slug",
    ["Shop", "-shop", "shop-", "sh_op", "sh op", "", "a" * 58, "shöp", "shop."],
)
def test_slugs_are_dns_label_safe(api: Api, slug: str) -> None:
    response = api.post("/api/projects", json={"name": "x", "slug": slug})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid"


def test_the_longest_slug_still_fits_a_dns_label_with_prod(api: Api) -> None:
    project = new_project(api, slug="a" * 57)
    names = [s["name"] for s in api.get(f"/api/projects/{project['id']}/stages").json()]
    assert max(len(f"{project['slug']}-{n}") for n in names) <= 63


def test_slugs_are_unique_across_the_installation(any_api: Api, any_platform: Any) -> None:
    new_project(any_api, slug="shop")
    again = any_api.post("/api/projects", json={"name": "Other", "slug": "shop"})
    beta = any_api.as_token(new_workspace(any_platform, "beta"))
    elsewhere = beta.post("/api/projects", json={"name": "Beta shop", "slug": "shop"})
    for response in (again, elsewhere):
        assert response.status_code == 409
        error = response.json()["error"]
        assert error["code"] == "conflict" and error["details"] == {"field": "slug"}
        assert "'shop' is taken" in error["message"] and "unique across" in error["message"]
    # The clash says the slug is taken, and nothing else about the project that has it.
    assert "Shop" not in elsewhere.text


def test_list_is_by_name_and_pages(api: Api) -> None:
    for slug, name in [("c", "charlie"), ("a", "Alpha"), ("b", "bravo")]:
        new_project(api, slug=slug, name=name)
    page = api.get("/api/projects").json()
    assert [p["name"] for p in page["items"]] == ["Alpha", "bravo", "charlie"]
    assert page["total"] == 3
    second = api.get("/api/projects", params={"limit": 2, "offset": 2}).json()
    assert [p["name"] for p in second["items"]] == ["charlie"]
    assert (second["total"], second["limit"], second["offset"]) == (3, 2, 2)
    assert api.get("/api/projects", params={"limit": 0}).status_code == 422


def test_rename_keeps_the_slug(api: Api) -> None:
    project = new_project(api)
    renamed = api.patch(f"/api/projects/{project['id']}", json={"name": "Storefront"})
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Storefront" and renamed.json()["slug"] == "shop"
    assert api.get(f"/api/projects/{project['id']}").json()["name"] == "Storefront"
    # The slug names published hosts: it cannot be changed.
    change = api.patch(f"/api/projects/{project['id']}", json={"name": "x", "slug": "other"})
    assert change.status_code == 422


def test_delete_takes_everything_in_the_project_and_frees_the_slug(any_api: Api) -> None:
    project = new_project(any_api)
    flow = any_api.post(f"/api/projects/{project['id']}/flows", json={"name": "F"}).json()
    secret = any_api.post(
        f"/api/projects/{project['id']}/secrets", json={"name": "KEY", "value": "v"}
    )
    assert secret.status_code == 201
    assert any_api.delete(f"/api/projects/{project['id']}").status_code == 204
    assert any_api.get(f"/api/projects/{project['id']}").status_code == 404
    assert any_api.get(f"/api/flows/{flow['id']}").status_code == 404
    assert any_api.get(f"/api/projects/{project['id']}/secrets").status_code == 404
    assert any_api.delete(f"/api/projects/{project['id']}").status_code == 404
    new_project(any_api, slug="shop")


def test_stages_can_be_added_and_removed_but_dev_and_prod_stay(any_api: Api) -> None:
    project = new_project(any_api)
    stages = f"/api/projects/{project['id']}/stages"
    added = any_api.post(stages, json={"name": "staging"})
    assert added.status_code == 201 and added.json()["name"] == "staging"
    assert any_api.post(stages, json={"name": "qa1"}).status_code == 201
    assert [s["name"] for s in any_api.get(stages).json()] == ["dev", "prod", "qa1", "staging"]
    duplicate = any_api.post(stages, json={"name": "staging"})
    assert duplicate.status_code == 409 and "already has a stage" in duplicate.text
    assert any_api.delete(f"{stages}/staging").status_code == 204
    assert any_api.delete(f"{stages}/staging").status_code == 404
    for builtin in ("dev", "prod"):
        refused = any_api.delete(f"{stages}/{builtin}")
        assert refused.status_code == 409 and "built-in" in refused.json()["error"]["message"]
    assert [s["name"] for s in any_api.get(stages).json()] == ["dev", "prod", "qa1"]


@pytest.mark.parametrize("name", ["pre-prod", "Staging", "", "a_b", "x" * 21])
def test_stage_names_have_no_dash(api: Api, name: str) -> None:
    project = new_project(api)
    response = api.post(f"/api/projects/{project['id']}/stages", json={"name": name})
    assert response.status_code == 422


def test_a_stage_must_keep_the_host_label_within_63_characters(api: Api) -> None:
    project = new_project(api, slug="s" * 57)
    stages = f"/api/projects/{project['id']}/stages"
    too_long = api.post(stages, json={"name": "staging"})
    assert too_long.status_code == 422
    assert "at most 5 characters" in too_long.json()["error"]["message"]
    assert api.post(stages, json={"name": "qa"}).status_code == 201


def test_viewers_read_but_do_not_write(api: Api, platform: Any) -> None:
    project = new_project(api)
    viewer = api.as_token(new_workspace(platform, "alpha", "viewer"))
    assert viewer.get(f"/api/projects/{project['id']}").status_code == 200
    assert viewer.get("/api/projects").json()["total"] == 1
    for response in (
        viewer.post("/api/projects", json={"name": "x", "slug": "x"}),
        viewer.patch(f"/api/projects/{project['id']}", json={"name": "x"}),
        viewer.delete(f"/api/projects/{project['id']}"),
        viewer.post(f"/api/projects/{project['id']}/stages", json={"name": "qa"}),
        viewer.delete(f"/api/projects/{project['id']}/stages/dev"),
    ):
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden"
    editor = api.as_token(new_workspace(platform, "alpha", "editor"))
    assert editor.patch(f"/api/projects/{project['id']}", json={"name": "x"}).status_code == 200
