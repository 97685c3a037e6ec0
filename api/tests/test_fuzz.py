"""Schemathesis over the whole OpenAPI document: no request gets a 5xx, and every answer
matches the schema the document declares for it (issue 3, item 8).

The app runs in this process (schemathesis' ASGI transport), on SQLite and on PostgreSQL
(which refuses what SQLite takes, such as NUL characters in text), with an owner token of
a workspace that holds a project, a flow with two versions, a secret, a member and a
token. Their ids replace the generated path parameters of the same name, so requests
reach real rows and the code behind them rather than only 404s. Every phase runs
(explicit examples, coverage of boundaries and wrong methods, then random fuzzing), with
at most ``MAX_EXAMPLES`` random cases per operation, derandomized: the same run each time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from apikit import Api, client_for, new_workspace, platform_for
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import response_schema_conformance

from plait.api.app import create_app, openapi_document
from plait.api.platform import Platform
from plait.api.settings import load_settings

MAX_EXAMPLES = 15
HELLO: dict[str, Any] = json.loads(
    (Path(__file__).parents[2] / "examples" / "hello.json").read_text()
)


def _rows(api: Api) -> dict[str, Any]:
    """A few real rows to aim the path parameters at."""
    project = api.post("/api/projects", json={"name": "Fuzz", "slug": "fuzz"}).json()
    flow = api.post(f"/api/projects/{project['id']}/flows", json={"document": HELLO}).json()
    api.post(f"/api/flows/{flow['id']}/versions")
    api.put(
        f"/api/flows/{flow['id']}",
        json={"document": {**HELLO, "description": "v2"}, "revision": 1},
    )
    api.post(f"/api/flows/{flow['id']}/versions")
    api.post(f"/api/projects/{project['id']}/secrets", json={"name": "KEY", "value": "v"})
    member = api.post(
        "/api/workspaces/current/members", json={"email": "m@example.com", "role": "viewer"}
    ).json()
    token = api.post("/api/workspaces/current/tokens", json={"name": "spare"}).json()
    return {
        "project_id": project["id"],
        "flow_id": flow["id"],
        "user_id": member["user_id"],
        "token_id": token["id"],
        "name": "KEY",
        "stage_name": "dev",
    }


@dataclass
class Target:
    app: Any
    token: str
    rows: dict[str, Any]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    with platform_for(request.param, tmp_path_factory.mktemp("fuzz")) as platform:
        token = new_workspace(platform, "fuzz")
        with client_for(platform) as client:
            rows = _rows(Api(client, token))
        yield Target(create_app(platform, migrate=False), token, rows)
        # The ASGI transport keeps an app's lifespan running until it is told to stop.
        shutdown_lifespans()


# The operations are read from the app's own OpenAPI document when the module is collected
# (the document needs no database); the requests go to the fixture's app. No operation is
# excluded: the WebSocket routes are not in the document, and no operation waits longer
# than the run it starts (the draft of examples/hello.json, done in milliseconds).
schema = schemathesis.openapi.from_dict(openapi_document(Platform(load_settings())))
schema.config.generation.update(max_examples=MAX_EXAMPLES, deterministic=True)


@schema.parametrize()
def test_api(case: Any, target: Target) -> None:
    # Aim ids at real rows, except for deletes, which would take the rows from every
    # operation fuzzed after them (deletes of real rows have their own tests).
    if case.method != "DELETE":
        for name, value in target.rows.items():
            if name in (case.path_parameters or {}):
                case.path_parameters[name] = value
    case.call_and_validate(
        app=target.app,
        headers={"Authorization": f"Bearer {target.token}"},
        checks=[not_a_server_error, response_schema_conformance],
    )
