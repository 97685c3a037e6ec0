"""The node catalogue over HTTP: the registry's own document, for any member."""

from __future__ import annotations

from typing import Any

from apikit import Api, new_workspace


def test_the_catalogue_is_the_registrys(api: Api, platform: Any) -> None:
    response = api.get("/api/nodes")
    assert response.status_code == 200
    body = response.json()
    assert body == platform.registry.catalogue()
    switch = next(n for n in body["nodes"] if n["type"] == "control.switch")
    assert switch["dynamic_outputs"]["from_param"] == "cases"


def test_the_catalogue_needs_a_credential_and_nothing_more(api: Api, platform: Any) -> None:
    assert api.as_token(None).get("/api/nodes").status_code == 401
    viewer = api.as_token(new_workspace(platform, "beta", "viewer"))
    assert viewer.get("/api/nodes").json() == api.get("/api/nodes").json()
