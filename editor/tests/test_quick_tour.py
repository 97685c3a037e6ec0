"""The README's quick tour, done the way a first-time user does it: through the UI only.

"A new user can, with no documentation, build and run the two-node webhook flow from the
README's quick tour in the browser." Every step below finds what it clicks by what the
screen shows (button names, labels, port names, palette titles); the API is only read at the
end to check what the UI said.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx
from browserkit import api, shot
from playwright.sync_api import expect

RUN_URL = re.compile(r"#/flows/([^/]+)/runs/([0-9a-f]+)$")


def settled_boxes(page, *locators) -> list[dict]:
    """The locators' boxes once they stop moving: a palette click may pan the view to show
    the new node (a 200 ms animation), and a drag measured mid-pan misses its target."""
    boxes = [locator.bounding_box() for locator in locators]
    for _ in range(100):
        page.wait_for_timeout(50)
        again = [locator.bounding_box() for locator in locators]
        if again == boxes and all(again):
            return again
        boxes = again
    raise AssertionError(f"the canvas kept moving: {boxes}")


def drag(page, source, target) -> None:
    """Drag with the real mouse, in steps (xyflow starts a connection on intermediate moves)."""
    first, second = settled_boxes(page, source, target)
    x1, y1 = first["x"] + first["width"] / 2, first["y"] + first["height"] / 2
    x2, y2 = second["x"] + second["width"] / 2, second["y"] + second["height"] / 2
    page.mouse.move(x1, y1)
    page.mouse.down()
    for i in range(1, 11):
        page.mouse.move(x1 + (x2 - x1) * i / 10, y1 + (y2 - y1) * i / 10)
    page.mouse.up()


def port(node, side: str, name: str):
    """The handle of the port a node shows under this name (`side`: "in" or "out")."""
    row = node.locator(f".plait-port.{side}").filter(has_text=re.compile(rf"^{name}$"))
    expect(row).to_be_visible()
    return row.locator(".react-flow__handle")


def test_the_readme_quick_tour_through_the_ui(page, editor_server) -> None:
    # 1. Projects → New project `hello`, then New flow `Greet`: the canvas opens.
    expect(page.get_by_role("list", name="Projects")).to_be_visible()
    page.get_by_role("button", name="New project").click()
    dialog = page.get_by_role("dialog", name="New project")
    dialog.get_by_label("Name").fill("hello")
    expect(dialog.get_by_label("Slug")).to_have_value("hello")
    shot(page, "tour-1-new-project")
    dialog.get_by_role("button", name="Create project").click()

    page.get_by_role("button", name="New flow").click()
    dialog = page.get_by_role("dialog", name="New flow")
    dialog.get_by_label("Name").fill("Greet")
    shot(page, "tour-1-new-flow")
    dialog.get_by_role("button", name="Create and open").click()
    editor = page.get_by_test_id("flow-editor")
    expect(editor).to_be_visible()
    expect(page.get_by_test_id("flow-name")).to_have_text("Greet")

    # 2. From the palette: Webhook (Triggers) and HTTP response (HTTP).
    palette = page.get_by_role("complementary", name="Node palette")
    palette.get_by_role("region", name="Triggers", exact=True).get_by_role(
        "button", name=re.compile("^Webhook")
    ).click()
    palette.get_by_role("region", name="HTTP", exact=True).get_by_role(
        "button", name=re.compile("^HTTP response")
    ).click()
    webhook = page.get_by_role("group", name=re.compile(r"^Node Webhook "))
    respond = page.get_by_role("group", name=re.compile(r"^Node HTTP response "))
    expect(webhook).to_be_visible()
    expect(respond).to_be_visible()
    shot(page, "tour-2-palette")

    drag(page, port(webhook, "out", "path_params"), port(respond, "in", "input"))
    expect(page.locator(".react-flow__edge")).to_have_count(1)
    shot(page, "tour-2-connected")

    # 3. The webhook's path and the response's body, in the side panel.
    webhook.click()
    panel = page.get_by_role("complementary", name="Node settings")
    panel.get_by_label("Path").fill("/hello/{name}")
    shot(page, "tour-3-webhook-path")
    respond.click()
    panel.get_by_label("Body").fill("Hello {{ inputs.input.name }}!")
    expect(panel.get_by_test_id("expression-preview")).to_contain_text("expression")
    shot(page, "tour-3-respond-body")
    expect(page.get_by_test_id("save-state")).to_have_text("Saved")
    expect(editor.get_by_test_id("node-problem")).to_have_count(0)

    # 4. Run with the input; both nodes turn green, the Run tab shows the output.
    page.get_by_role("button", name="Input", exact=True).click()
    page.get_by_label("Run input (JSON)").fill('{"path_params": {"name": "Ada"}}')
    shot(page, "tour-4-run-input")
    page.get_by_role("button", name="Run", exact=True).click()
    expect(webhook).to_have_attribute("data-status", "succeeded")
    expect(respond).to_have_attribute("data-status", "succeeded")
    respond.click()
    panel.get_by_role("tab", name="Run").click()
    outputs = page.get_by_test_id("node-run-inspector").locator("[data-section=outputs]")
    expect(outputs).to_contain_text('"body": "Hello Ada!"')
    shot(page, "tour-4-run-succeeded")

    # 5. Publish to dev; the dialog shows the route's URL; calling it answers Hello Ada!
    page.get_by_role("button", name="Publish", exact=True).click()
    dialog = page.get_by_role("dialog", name="Publish flow")
    expect(dialog.get_by_label("Stage")).to_have_value("dev")
    dialog.get_by_role("button", name="Publish").click()
    success = page.get_by_test_id("publish-success")
    expect(success).to_contain_text("live on dev")
    shot(page, "tour-5-published")
    # The dialog shows the route's URL and a curl command for it; do what it says: replace
    # {name}. Its URL is the path form (/p/hello/dev/…), which any host of the router serves.
    expect(success.get_by_test_id("route-url")).to_contain_text("/hello/{name}")
    curl = success.get_by_test_id("route-curl").inner_text()
    expect(success).to_contain_text("replace {name} with a value")
    match = re.fullmatch(r"curl (?:-X (\w+) )?'(\S+)'", curl)
    assert match, curl
    method, url = match.group(1) or "GET", match.group(2).replace("{name}", "Ada")
    assert urlsplit(url).path == "/p/hello/dev/hello/Ada"
    answer = httpx.request(method, f"{editor_server.router_url}{urlsplit(url).path}", timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.text == "Hello Ada!"
    page.get_by_role("button", name="Done").click()

    # ... and the run is in the flow's run history.
    page.get_by_role("link", name="Run history").click()
    rows = page.get_by_test_id("run-row")
    expect(rows).to_have_count(2)
    shot(page, "tour-5-run-history")

    flow_id = RUN_URL.search(page.url) or re.search(r"#/flows/([^/]+)/runs$", page.url)
    assert flow_id
    runs = api(page, "GET", f"/api/flows/{flow_id.group(1)}/runs")["items"]
    assert len(runs) == 2
