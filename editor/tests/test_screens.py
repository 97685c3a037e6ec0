"""The non-canvas screens: projects, a project's flows, secrets and stages, publishing, run history.

Each test works in its own project (names carry a random suffix, since the server is shared by
the module) and drives the screens the way a person would: roles, labels and a few test ids.
"""

from __future__ import annotations

import re
import uuid
from urllib.parse import urlsplit

import httpx
from browserkit import api, new_flow, new_project, shot
from playwright.sync_api import expect


def _suffix() -> str:
    return uuid.uuid4().hex[:6]


def _greet(name: str, path: str = "/hello/{name}") -> dict:
    """The greeting webhook of examples/greet_webhook.json, with its own name and path."""
    return {
        "schema_version": 1,
        "name": name,
        "nodes": [
            {"id": "hook", "type": "trigger.webhook", "params": {"method": "GET", "path": path}},
            {
                "id": "reply",
                "type": "http.respond",
                "params": {"body": "Hello {{ inputs.input.name }}", "status": 200},
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


def _open(page, fragment: str) -> None:
    origin = urlsplit(page.url)
    page.goto(f"{origin.scheme}://{origin.netloc}/#{fragment}")


def _call_route(router_url: str, route_url: str, **variables: str) -> httpx.Response:
    """Call a published route the way a client on the router's host would: the route URL's
    host form names project and stage in the Host header, so send it to the router with it."""
    for key, value in variables.items():
        route_url = route_url.replace("{" + key + "}", value)
    parts = urlsplit(route_url)
    return httpx.get(f"{router_url}{parts.path}", headers={"Host": parts.netloc}, timeout=30)


def test_projects_can_be_created_searched_renamed_and_deleted(page) -> None:
    suffix = _suffix()
    taken = new_project(page, f"Taken {suffix}")
    _open(page, "/projects")
    expect(page.get_by_role("list", name="Projects")).to_be_visible()

    page.get_by_role("button", name="New project").click()
    dialog = page.get_by_role("dialog", name="New project")
    dialog.get_by_label("Name").fill(f"Orders Café {suffix}")
    slug = dialog.get_by_label("Slug")
    expect(slug).to_have_value(f"orders-cafe-{suffix}")

    # A slug someone already has: the API's refusal lands next to the field.
    slug.fill(taken["slug"])
    dialog.get_by_role("button", name="Create project").click()
    expect(dialog.locator("#project-slug-error")).to_contain_text("taken")
    slug.fill("Not A Slug")
    dialog.get_by_role("button", name="Create project").click()
    expect(dialog.locator("#project-slug-error")).to_contain_text("lowercase")
    shot(page, "projects-create-error")

    slug.fill(f"orders-{suffix}")
    dialog.get_by_role("button", name="Create project").click()
    expect(page.get_by_role("heading", name=f"Orders Café {suffix}")).to_be_visible()
    assert re.search(r"#/projects/[0-9a-f]+$", page.url)

    page.get_by_role("link", name="Projects").click()
    search = page.get_by_label("Search projects")
    search.fill(f"orders-{suffix}")
    rows = page.get_by_test_id("project-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(f"Orders Café {suffix}")
    shot(page, "projects-search")

    page.get_by_role("button", name=f"Rename Orders Café {suffix}").click()
    name_field = page.get_by_label("Project name")
    name_field.fill(f"Orders {suffix} renamed")
    name_field.press("Enter")
    expect(rows.first).to_contain_text(f"Orders {suffix} renamed")
    listed = api(page, "GET", "/api/projects?limit=500")["items"]
    assert f"Orders {suffix} renamed" in [p["name"] for p in listed]

    page.get_by_role("button", name=f"Delete Orders {suffix} renamed").click()
    confirm = page.get_by_role("dialog", name="Delete project?")
    expect(confirm).to_contain_text(f"Orders {suffix} renamed")
    expect(confirm).to_contain_text(f"orders-{suffix}")
    shot(page, "projects-delete-confirm")
    confirm.get_by_role("button", name="Delete project").click()
    expect(rows).to_have_count(0)
    expect(page.get_by_text("No project matches")).to_be_visible()
    listed = api(page, "GET", "/api/projects?limit=500")["items"]
    assert f"orders-{suffix}" not in [p["slug"] for p in listed]


def test_flows_can_be_created_renamed_searched_and_deleted(page) -> None:
    suffix = _suffix()
    project = new_project(page, f"Flows {suffix}")
    _open(page, f"/projects/{project['id']}")
    expect(page.get_by_test_id("flows-empty")).to_be_visible()
    shot(page, "flows-empty")

    page.get_by_role("button", name="New flow").click()
    dialog = page.get_by_role("dialog", name="New flow")
    dialog.get_by_label("Name").fill("Invoice mailer")
    dialog.get_by_role("button", name="Create and open").click()
    page.wait_for_url(re.compile(r"#/flows/[0-9a-f]+$"))
    flow_id = page.url.rsplit("/", 1)[1]
    flow = api(page, "GET", f"/api/flows/{flow_id}")
    assert flow["name"] == "Invoice mailer"
    assert flow["document"]["nodes"] == [] and flow["document"]["edges"] == []

    new_flow(page, project["id"], _greet("Greeter"))
    _open(page, f"/projects/{project['id']}")
    rows = page.get_by_test_id("flow-row")
    expect(rows).to_have_count(2)
    row = page.locator(f'[data-testid="flow-row"][data-flow-id="{flow_id}"]')
    expect(row.get_by_role("link", name="Runs")).to_have_attribute(
        "href", f"#/flows/{flow_id}/runs"
    )
    expect(row.get_by_role("link", name="Open")).to_have_attribute("href", f"#/flows/{flow_id}")
    expect(row).to_contain_text("updated")

    page.get_by_role("button", name="Rename Invoice mailer").click()
    page.get_by_label("Flow name").fill("Invoice sender")
    page.get_by_label("Flow name").press("Enter")
    expect(row).to_contain_text("Invoice sender")
    assert api(page, "GET", f"/api/flows/{flow_id}")["name"] == "Invoice sender"

    page.get_by_label("Search flows").fill("invoice")
    expect(rows).to_have_count(1)
    page.get_by_label("Search flows").fill("")
    expect(rows).to_have_count(2)
    shot(page, "flows-list")

    # An empty flow has no trigger: the dialog lists the problems instead of publishing.
    page.get_by_role("button", name="Publish Invoice sender").click()
    dialog = page.get_by_role("dialog", name="Publish flow")
    dialog.get_by_role("button", name="Publish").click()
    expect(dialog.get_by_test_id("publish-problems")).to_contain_text("not ready to publish")
    expect(dialog.get_by_test_id("publish-problems").get_by_role("listitem")).not_to_have_count(0)
    shot(page, "publish-problems")
    dialog.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)
    assert api(page, "GET", f"/api/flows/{flow_id}/versions")["items"] == []

    page.get_by_role("button", name="Delete Invoice sender").click()
    confirm = page.get_by_role("dialog", name="Delete flow?")
    expect(confirm).to_contain_text("Invoice sender")
    confirm.get_by_role("button", name="Delete flow").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Greeter")
    names = [f["name"] for f in api(page, "GET", f"/api/projects/{project['id']}/flows")["items"]]
    assert names == ["Greeter"]


def test_secret_values_never_reach_the_page(page) -> None:
    suffix = _suffix()
    project = new_project(page, f"Secrets {suffix}")
    first_value = f"first-value-{uuid.uuid4().hex}"
    second_value = f"second-value-{uuid.uuid4().hex}"
    _open(page, f"/projects/{project['id']}/secrets")
    expect(page.get_by_test_id("secrets-empty")).to_be_visible()
    expect(page.get_by_role("tabpanel")).to_contain_text("{{ secrets.NAME }}")

    page.get_by_role("button", name="Add secret").first.click()
    dialog = page.get_by_role("dialog", name="Add secret")
    dialog.get_by_label("Name").fill("2BAD")
    dialog.get_by_label("Value").fill(first_value)
    dialog.get_by_role("button", name="Add secret").click()
    expect(dialog.get_by_role("alert")).to_contain_text("not starting with a digit")
    dialog.get_by_label("Name").fill("PAYMENT_KEY")
    dialog.get_by_role("button", name="Add secret").click()
    row = page.locator('[data-testid="secret-row"][data-name="PAYMENT_KEY"]')
    expect(row).to_contain_text("{{ secrets.PAYMENT_KEY }}")
    expect(page.get_by_role("status")).to_contain_text("PAYMENT_KEY saved")
    assert first_value not in page.content()
    shot(page, "secrets-list")

    page.get_by_role("button", name="Replace value of PAYMENT_KEY").click()
    dialog = page.get_by_role("dialog", name="Replace the value of PAYMENT_KEY")
    dialog.get_by_label("New value").fill(second_value)
    dialog.get_by_role("button", name="Replace value").click()
    expect(page.get_by_role("status")).to_contain_text("value of PAYMENT_KEY was replaced")
    html = page.content()
    assert first_value not in html and second_value not in html
    page.reload()
    expect(row).to_be_visible()
    html = page.content()
    assert first_value not in html and second_value not in html

    page.get_by_role("button", name="Delete PAYMENT_KEY").click()
    confirm = page.get_by_role("dialog", name="Delete secret?")
    expect(confirm).to_contain_text("PAYMENT_KEY")
    confirm.get_by_role("button", name="Delete secret").click()
    expect(page.get_by_test_id("secrets-empty")).to_be_visible()
    assert api(page, "GET", f"/api/projects/{project['id']}/secrets") == []


def test_publish_call_the_route_see_the_run_promote_and_roll_back(page, editor_server) -> None:
    suffix = _suffix()
    project = new_project(page, f"Publish {suffix}")
    flow = new_flow(page, project["id"], _greet("Greeter"))
    rival = new_flow(page, project["id"], _greet("Rival greeter", "/hello/{who}"))
    _open(page, f"/projects/{project['id']}")

    page.get_by_role("button", name="Publish Greeter").click()
    dialog = page.get_by_role("dialog", name="Publish flow")
    dialog.get_by_label("Stage").select_option("dev")
    dialog.get_by_label("Note (optional)").fill("first greeting")
    dialog.get_by_role("button", name="Publish").click()
    success = page.get_by_test_id("publish-success")
    expect(success).to_contain_text("v1 is live on dev")
    route_url = success.get_by_test_id("route-url").inner_text()
    assert (
        route_url
        == f"http://{project['slug']}-dev.localhost:{urlsplit(editor_server.router_url).port}/hello/{{name}}"
    )
    expect(success.get_by_test_id("route-path-url")).to_have_text(
        re.compile(rf"/p/{project['slug']}/dev/hello/\{{name\}}$")
    )
    copy = success.get_by_role("button", name=f"Copy {route_url}")
    copy.click()
    expect(copy).to_have_text("Copied")
    shot(page, "publish-success")
    versions = api(page, "GET", f"/api/flows/{flow['id']}/versions")["items"]
    assert [v["note"] for v in versions] == ["first greeting"]

    answer = _call_route(editor_server.router_url, route_url, name="Ada")
    assert answer.status_code == 200 and answer.text == "Hello Ada"
    page.get_by_role("button", name="Done").click()

    # The rival's GET /hello/{who} cannot be ordered against GET /hello/{name}.
    page.get_by_role("button", name="Publish Rival greeter").click()
    dialog = page.get_by_role("dialog", name="Publish flow")
    dialog.get_by_label("Stage").select_option("dev")
    dialog.get_by_role("button", name="Publish").click()
    conflict = dialog.get_by_test_id("publish-conflict")
    expect(conflict).to_contain_text("/hello/{who}")
    expect(conflict).to_contain_text("/hello/{name}")
    expect(conflict).to_contain_text("Greeter")
    shot(page, "publish-conflict")
    dialog.get_by_role("button", name="Cancel").click()
    assert api(page, "GET", f"/api/flows/{rival['id']}/versions")["items"] == []

    _open(page, f"/flows/{flow['id']}/runs")
    run_row = page.get_by_test_id("run-row")
    expect(run_row).to_have_count(1)
    expect(run_row.first).to_have_attribute("data-status", "succeeded")
    expect(run_row.first).to_contain_text("webhook")
    expect(run_row.first).to_contain_text("v1")
    shot(page, "run-history")
    page.get_by_label("Filter by status").select_option("failed")
    expect(page.get_by_test_id("runs-empty")).to_contain_text("No failed runs")
    page.get_by_label("Filter by status").select_option("")
    run_id = run_row.first.get_attribute("data-run-id")
    run_row.first.click()
    page.wait_for_url(re.compile(rf"#/flows/{flow['id']}/runs/{run_id}$"))

    _open(page, f"/projects/{project['id']}/stages")
    dev = page.get_by_test_id("stage-dev")
    prod = page.get_by_test_id("stage-prod")
    expect(dev.get_by_test_id("publication")).to_have_count(1)
    expect(dev.get_by_test_id("route-url")).to_have_text(route_url)
    expect(prod.get_by_test_id("publication")).to_have_count(0)
    dev.get_by_label("Promote Greeter from dev to").select_option("prod")
    dev.get_by_role("button", name="Promote").click()
    expect(prod.get_by_test_id("publication-version")).to_have_text("v1")
    expect(prod.get_by_test_id("publication")).to_contain_text("promoted by you")
    prod_url = prod.get_by_test_id("route-url").inner_text()
    assert _call_route(editor_server.router_url, prod_url, name="Bo").text == "Hello Bo"

    # A second version on dev, then back to the first from the stage's history.
    api(page, "POST", f"/api/flows/{flow['id']}/publish", {"stage": "dev"})
    page.reload()
    expect(dev.get_by_test_id("publication-version")).to_have_text("v2")
    dev.get_by_label("Roll back Greeter on dev to").select_option("1")
    dev.get_by_role("button", name="Roll back").click()
    expect(dev.get_by_test_id("publication-version")).to_have_text("v1")
    expect(dev.get_by_test_id("publication")).to_contain_text("rolled back by you")
    dev.get_by_role("button", name="History").click()
    expect(dev.get_by_test_id("history-row")).to_have_count(3)
    shot(page, "stages")
    active = api(page, "GET", f"/api/projects/{project['id']}/publications")
    assert sorted((p["stage"], p["version"], p["action"]) for p in active) == [
        ("dev", 1, "rollback"),
        ("prod", 1, "promote"),
    ]

    dev.get_by_role("button", name="Unpublish").click()
    confirm = page.get_by_role("dialog", name="Unpublish flow?")
    expect(confirm).to_contain_text("Greeter")
    confirm.get_by_role("button", name="Unpublish").click()
    expect(dev.get_by_test_id("publication")).to_have_count(0)
    assert _call_route(editor_server.router_url, route_url, name="Ada").status_code == 404


def test_stages_can_be_added_and_deleted_but_not_the_built_in_ones(page) -> None:
    project = new_project(page, f"Stages {_suffix()}")
    _open(page, f"/projects/{project['id']}/stages")
    expect(page.get_by_role("button", name="Delete stage prod")).to_be_disabled()
    page.get_by_role("button", name="New stage").click()
    dialog = page.get_by_role("dialog", name="New stage")
    dialog.get_by_label("Name").fill("pre-prod")
    dialog.get_by_role("button", name="Create stage").click()
    expect(dialog.get_by_role("alert")).to_contain_text("no dash")
    dialog.get_by_label("Name").fill("staging")
    dialog.get_by_role("button", name="Create stage").click()
    expect(page.get_by_test_id("stage-staging")).to_be_visible()
    page.get_by_role("button", name="Delete stage staging").click()
    page.get_by_role("dialog", name="Delete stage?").get_by_role(
        "button", name="Delete stage"
    ).click()
    expect(page.get_by_test_id("stage-staging")).to_have_count(0)
    names = [s["name"] for s in api(page, "GET", f"/api/projects/{project['id']}/stages")]
    assert sorted(names) == ["dev", "prod"]


def test_run_history_pages_with_the_cursor_and_opens_a_run(page) -> None:
    project = new_project(page, f"Runs {_suffix()}")
    flow = new_flow(
        page,
        project["id"],
        {
            "schema_version": 1,
            "name": "Manual",
            "nodes": [{"id": "start", "type": "trigger.manual"}],
            "edges": [],
        },
    )
    _open(page, f"/flows/{flow['id']}/runs")
    expect(page.get_by_test_id("runs-empty")).to_contain_text("No runs yet")
    # One more run than the screen's page of 50, so the rest needs "Load more runs".
    for _ in range(51):
        api(page, "POST", f"/api/flows/{flow['id']}/runs", {"input": {}, "wait_s": 10})
    page.get_by_role("button", name="Refresh").click()
    rows = page.get_by_test_id("run-row")
    expect(rows).to_have_count(50)
    expect(rows.first).to_contain_text("draft")
    page.get_by_role("button", name="Load more runs").click()
    expect(rows).to_have_count(51)
    expect(page.get_by_role("button", name="Load more runs")).to_have_count(0)
    ids = {rows.nth(i).get_attribute("data-run-id") for i in range(51)}
    assert len(ids) == 51
    page.get_by_label("Filter by status").select_option("succeeded")
    expect(rows).to_have_count(50)
    page.get_by_role("link", name="Open on the canvas").click()
    page.wait_for_url(re.compile(rf"#/flows/{flow['id']}$"))
