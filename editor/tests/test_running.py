"""Running a flow from the canvas: live node statuses, the node's data for the shown run,
past runs from their URL, run from a node with pinned upstream data, the flow.py viewer.

Contract with the canvas: each node element is ``data-testid="node-<id>"`` with
``data-status`` from the shown run; the side panel has a "Run" tab holding the node run
inspector (``data-testid="node-run-inspector"``) for the selected node.
"""

from __future__ import annotations

import re

from browserkit import api, new_flow, new_project, shot
from playwright.sync_api import expect
from serverkit import free_port

RUN_URL = re.compile(r"#/flows/[^/]+/runs/([0-9a-f]+)$")


def edge(eid: str, source: str, source_port: str, target: str, target_port: str = "input") -> dict:
    return {
        "id": eid,
        "source": source,
        "source_port": source_port,
        "target": target,
        "target_port": target_port,
    }


def greeting_flow(name: str = "Greeting") -> dict:
    """trigger.manual → data.set → data.template: 'Hello <name>!' from the input."""
    return {
        "schema_version": 1,
        "name": name,
        "nodes": [
            {"id": "start", "type": "trigger.manual", "position": {"x": 0, "y": 0}},
            {
                "id": "shape",
                "type": "data.set",
                "params": {"values": {"who": "{{ inputs.input.name }}"}},
                "position": {"x": 300, "y": 0},
            },
            {
                "id": "greet",
                "type": "data.template",
                "params": {"template": "Hello {{ input.who }}!"},
                "position": {"x": 600, "y": 0},
            },
        ],
        "edges": [
            edge("e1", "start", "payload", "shape"),
            edge("e2", "shape", "output", "greet"),
        ],
    }


def open_flow(page, editor_server, flow_id: str, run_id: str | None = None) -> None:
    suffix = f"/runs/{run_id}" if run_id else ""
    page.goto(f"{editor_server.url}/#/flows/{flow_id}{suffix}")
    expect(page.get_by_role("toolbar", name="Run")).to_be_visible()


def canvas_node(page, node_id: str):
    return page.get_by_test_id(f"node-{node_id}")


def inspect(page, node_id: str):
    """Select a node and show its Run tab; the inspector."""
    canvas_node(page, node_id).click()
    page.get_by_role("tab", name="Run").click()
    return page.get_by_test_id("node-run-inspector")


def set_input(page, text: str) -> None:
    page.get_by_role("button", name="Input", exact=True).click()
    page.get_by_label("Run input (JSON)").fill(text)


def shown_run_id(page) -> str:
    expect(page).to_have_url(RUN_URL)
    match = RUN_URL.search(page.url)
    assert match
    return match.group(1)


def run_via_api(page, flow_id: str, body: dict) -> dict:
    return api(page, "POST", f"/api/flows/{flow_id}/runs", {**body, "wait_s": 30})  # type: ignore[return-value]


def test_a_run_shows_every_node_succeed_and_the_output_in_the_inspector(
    page, editor_server
) -> None:
    project = new_project(page, "Running happy")
    flow = new_flow(page, project["id"], greeting_flow())
    open_flow(page, editor_server, flow["id"])
    expect(inspect(page, "greet")).to_contain_text("Run the flow to see this node's data")

    set_input(page, '{"name": "Ada"}')
    page.get_by_role("button", name="Run", exact=True).click()

    for node_id in ("start", "shape", "greet"):
        expect(canvas_node(page, node_id)).to_have_attribute("data-status", "succeeded")
    expect(page.locator("[data-run-status]")).to_have_attribute("data-run-status", "succeeded")
    run_id = shown_run_id(page)
    assert api(page, "GET", f"/api/runs/{run_id}")["status"] == "succeeded"

    inspector = inspect(page, "greet")
    expect(inspector).to_have_attribute("data-status", "succeeded")
    expect(inspector.locator("[data-section=outputs]")).to_contain_text('"text": "Hello Ada!"')
    # Inputs are not in the events; they arrive with the run's detail after the end.
    expect(inspector.locator("[data-section=inputs]")).to_contain_text('"who": "Ada"')
    expect(inspector.get_by_test_id("node-attempts")).to_have_text("1 attempt")
    shot(page, "running-succeeded")

    # The input is remembered for the flow: a reload keeps it, and shows the same run.
    page.reload()
    expect(canvas_node(page, "greet")).to_have_attribute("data-status", "succeeded")
    page.get_by_role("button", name="Input", exact=True).click()
    expect(page.get_by_label("Run input (JSON)")).to_have_value('{"name": "Ada"}')


def test_the_keyboard_shortcut_runs_and_bad_json_is_refused_before_sending(
    page, editor_server
) -> None:
    project = new_project(page, "Running input")
    flow = new_flow(page, project["id"], greeting_flow())
    open_flow(page, editor_server, flow["id"])

    set_input(page, '{"name": ')
    page.keyboard.press("Control+Enter")
    expect(page.get_by_role("dialog", name="Run input").get_by_role("alert")).to_contain_text(
        "Not valid JSON"
    )
    shot(page, "running-bad-input")
    assert api(page, "GET", f"/api/flows/{flow['id']}/runs")["items"] == []

    page.get_by_label("Run input (JSON)").fill('{"name": "Grace"}')
    page.keyboard.press("Control+Enter")
    expect(canvas_node(page, "greet")).to_have_attribute("data-status", "succeeded")
    inspector = inspect(page, "greet")
    expect(inspector.locator("[data-section=outputs]")).to_contain_text("Hello Grace!")


def test_a_failing_node_shows_failed_its_attempts_and_its_error(page, editor_server) -> None:
    closed = free_port()
    project = new_project(page, "Running failure")
    document = {
        "schema_version": 1,
        "name": "Failing fetch",
        "nodes": [
            {"id": "start", "type": "trigger.manual", "position": {"x": 0, "y": 0}},
            {
                "id": "fetch",
                "type": "http.request",
                "params": {"url": f"http://127.0.0.1:{closed}/status", "timeout_s": 5},
                # The test server refuses private addresses (forbidden_address); were they
                # allowed, the closed port would refuse the connection. Either way: retried once.
                "retry": {
                    "max_attempts": 2,
                    "delay_s": 0.05,
                    "retry_on": ["connection", "forbidden_address"],
                },
                "position": {"x": 300, "y": 0},
            },
            {
                "id": "after",
                "type": "data.template",
                "params": {"template": "got {{ input }}"},
                "position": {"x": 600, "y": 0},
            },
        ],
        "edges": [edge("e1", "start", "payload", "fetch"), edge("e2", "fetch", "status", "after")],
    }
    flow = new_flow(page, project["id"], document)
    open_flow(page, editor_server, flow["id"])
    page.get_by_role("button", name="Run", exact=True).click()

    expect(canvas_node(page, "fetch")).to_have_attribute("data-status", "failed")
    expect(canvas_node(page, "start")).to_have_attribute("data-status", "succeeded")
    expect(canvas_node(page, "after")).to_have_attribute("data-status", "abandoned")
    expect(page.locator("[data-run-status]")).to_have_attribute("data-run-status", "failed")

    run = api(page, "GET", f"/api/runs/{shown_run_id(page)}")
    message = run["nodes"]["fetch"]["error"]["message"]
    inspector = inspect(page, "fetch")
    expect(inspector).to_have_attribute("data-status", "failed")
    expect(inspector.get_by_test_id("node-attempts")).to_have_text("2 attempts")
    error = inspector.get_by_role("alert", name="Node error")
    expect(error).to_contain_text(run["nodes"]["fetch"]["error"]["kind"])
    expect(error).to_contain_text(message)
    assert "127.0.0.1" in message
    shot(page, "running-failed")

    expect(inspect(page, "after")).to_contain_text("an upstream node failed")


def test_a_past_run_opens_from_its_url(page, editor_server) -> None:
    project = new_project(page, "Running past")
    flow = new_flow(page, project["id"], greeting_flow())
    first = run_via_api(page, flow["id"], {"input": {"name": "Lovelace"}})
    second = run_via_api(page, flow["id"], {"input": {"name": "Hopper"}})
    assert first["status"] == second["status"] == "succeeded"

    open_flow(page, editor_server, flow["id"], first["id"])
    for node_id in ("start", "shape", "greet"):
        expect(canvas_node(page, node_id)).to_have_attribute("data-status", "succeeded")
    inspector = inspect(page, "greet")
    expect(inspector.locator("[data-section=outputs]")).to_contain_text("Hello Lovelace!")
    expect(inspector.locator("[data-section=inputs]")).to_contain_text('"who": "Lovelace"')
    shot(page, "running-past-run")

    # Another run's URL shows that run, not the last one seen.
    open_flow(page, editor_server, flow["id"], second["id"])
    expect(inspect(page, "greet").locator("[data-section=outputs]")).to_contain_text(
        "Hello Hopper!"
    )
    expect(page.get_by_role("link", name="Run history", exact=True)).to_have_attribute(
        "href", f"#/flows/{flow['id']}/runs"
    )


def test_run_from_a_node_pins_the_outputs_upstream_of_it(page, editor_server) -> None:
    project = new_project(page, "Running from here")
    flow = new_flow(page, project["id"], greeting_flow())
    first = run_via_api(page, flow["id"], {"input": {"name": "Ada"}})
    open_flow(page, editor_server, flow["id"], first["id"])
    expect(canvas_node(page, "greet")).to_have_attribute("data-status", "succeeded")

    inspect(page, "greet")
    page.get_by_role("button", name="Run from here").click()
    expect(page).not_to_have_url(re.compile(first["id"]))
    again = shown_run_id(page)
    expect(page.locator("[data-run-status]")).to_have_attribute("data-run-status", "succeeded")

    events = api(page, "GET", f"/api/runs/{again}/events")["items"]
    seeded = {e["node_id"]: e["data"]["outputs"] for e in events if e["type"] == "node.seeded"}
    assert seeded == {"start": {"payload": {"name": "Ada"}}, "shape": {"output": {"who": "Ada"}}}
    ran = {e["node_id"] for e in events if e["type"] == "node.started"}
    assert ran == {"greet"}

    expect(inspect(page, "shape")).to_contain_text("pinned")
    expect(inspect(page, "greet").locator("[data-section=outputs]")).to_contain_text("Hello Ada!")
    shot(page, "running-from-here")


def test_run_from_here_needs_outputs_for_everything_upstream(page, editor_server) -> None:
    project = new_project(page, "Running from here refused")
    document = greeting_flow()
    document["nodes"][1]["params"] = {"values": {"who": "{{ inputs.input.name.missing }}"}}
    flow = new_flow(page, project["id"], document)
    failed = run_via_api(page, flow["id"], {"input": {"name": "Ada"}})
    assert failed["status"] == "failed", failed
    open_flow(page, editor_server, flow["id"], failed["id"])
    expect(canvas_node(page, "shape")).to_have_attribute("data-status", "failed")

    inspect(page, "shape")  # its upstream (the trigger) succeeded
    expect(page.get_by_role("button", name="Run from here")).to_be_visible()
    inspect(page, "greet")  # its upstream failed: nothing to pin
    expect(page.get_by_role("button", name="Run from here")).to_have_count(0)


def test_cancel_stops_a_running_run(page, editor_server) -> None:
    project = new_project(page, "Running cancel")
    document = greeting_flow("Slow")
    document["nodes"].append(
        {
            "id": "wait",
            "type": "util.delay",
            "params": {"seconds": 60},
            "position": {"x": 300, "y": 200},
        }
    )
    document["edges"] = [
        edge("e1", "start", "payload", "wait"),
        edge("e2", "wait", "output", "shape"),
        edge("e3", "shape", "output", "greet"),
    ]
    flow = new_flow(page, project["id"], document)
    open_flow(page, editor_server, flow["id"])
    page.get_by_role("button", name="Run", exact=True).click()
    expect(page.locator("[data-run-status]")).to_have_attribute("data-run-status", "running")
    expect(canvas_node(page, "start")).to_have_attribute("data-status", "succeeded")
    expect(canvas_node(page, "greet")).to_have_attribute("data-status", "pending")
    shot(page, "running-live")

    page.get_by_role("button", name="Cancel", exact=True).click()
    expect(page.locator("[data-run-status]")).to_have_attribute("data-run-status", "cancelled")
    expect(canvas_node(page, "wait")).to_have_attribute("data-status", "cancelled")
    assert api(page, "GET", f"/api/runs/{shown_run_id(page)}")["status"] == "cancelled"


def test_the_code_viewer_shows_the_generated_flow_py(page, editor_server) -> None:
    project = new_project(page, "Running code")
    flow = new_flow(page, project["id"], greeting_flow("Code view"))
    preview = api(page, "POST", f"/api/flows/{flow['id']}/compile", {})
    open_flow(page, editor_server, flow["id"])

    page.get_by_role("button", name="Code", exact=True).click()
    dialog = page.get_by_role("dialog", name="Generated flow.py")
    source = dialog.get_by_label("flow.py source")
    expect(source).to_contain_text("FLOW_NAME = 'Code view'")
    expect(source).to_contain_text("'greet': NodePlan(")
    expect(dialog.get_by_test_id("bundle-id")).to_have_text(preview["bundle_id"][:12])
    shot(page, "running-code")
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)


def test_a_big_value_is_cut_until_show_all(page, editor_server) -> None:
    project = new_project(page, "Running big value")
    flow = new_flow(page, project["id"], greeting_flow())
    long_name = "y" * 9000
    run = run_via_api(page, flow["id"], {"input": {"name": long_name}})
    open_flow(page, editor_server, flow["id"], run["id"])

    outputs = inspect(page, "greet").locator("[data-section=outputs]")
    expect(outputs).to_contain_text("Hello yyy")
    expect(outputs).not_to_contain_text(long_name)
    outputs.get_by_role("button", name="Show all").click()
    expect(outputs).to_contain_text(f"Hello {long_name}!")
    expect(outputs.get_by_role("button", name="Show all")).to_have_count(0)
