"""The flow canvas: palette, connections and their refusal, the side panel, validation marks,
undo/redo, clipboard, auto-layout, sticky notes, autosave across a reload, and the conflict
dialog. Each test works on its own flow in its own project."""

from __future__ import annotations

import json

from browserkit import api, new_flow, new_project, shot
from playwright.sync_api import expect

MOD = "Control"


def open_flow(page, flow: dict) -> None:
    page.goto(page.url.split("#")[0] + f"#/flows/{flow['id']}")
    expect(page.get_by_test_id("flow-editor")).to_be_visible()
    expect(page.get_by_test_id("canvas").locator(".react-flow__viewport")).to_be_attached()


def saved(page) -> None:
    expect(page.get_by_test_id("save-state")).to_have_text("Saved", timeout=10_000)


def document(page, flow: dict) -> dict:
    return api(page, "GET", f"/api/flows/{flow['id']}")["document"]  # type: ignore[index]


def centre(locator) -> tuple[float, float]:
    box = locator.bounding_box()
    assert box, "element not on screen"
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def drag(page, source, target) -> None:
    """Drag with the real mouse from one element's centre to another's, in steps (xyflow
    needs intermediate moves to start a connection or a drag)."""
    x1, y1 = centre(source)
    x2, y2 = centre(target)
    page.mouse.move(x1, y1)
    page.mouse.down()
    for i in range(1, 11):
        page.mouse.move(x1 + (x2 - x1) * i / 10, y1 + (y2 - y1) * i / 10)
    page.mouse.up()


def node(page, node_id: str):
    return page.get_by_test_id(f"node-{node_id}")


def flow_with(page, name: str, nodes: list[dict], edges: list[dict] | None = None) -> dict:
    project = new_project(page, name)
    return new_flow(
        page,
        project["id"],
        {"schema_version": 1, "name": name, "nodes": nodes, "edges": edges or []},
    )


TRIGGER = {"id": "start", "type": "trigger.manual", "position": {"x": 0, "y": 0}}


def test_build_a_flow_from_the_palette_and_a_bad_connection_is_refused(page) -> None:
    flow = flow_with(page, "Palette flow", [])
    open_flow(page, flow)

    page.get_by_test_id("palette-trigger.manual").click()
    expect(node(page, "manual")).to_be_visible()
    # A second node by drag and drop from the palette onto the canvas.
    canvas = page.get_by_test_id("canvas")
    box = canvas.bounding_box()
    assert box
    page.get_by_test_id("palette-data.set").drag_to(
        canvas, target_position={"x": box["width"] * 0.75, "y": box["height"] * 0.3}
    )
    expect(node(page, "set")).to_be_visible()
    page.get_by_label("Search nodes").fill("delay")
    expect(page.get_by_test_id("palette-data.set")).to_have_count(0)
    page.get_by_test_id("palette-util.delay").click()
    expect(node(page, "delay")).to_be_visible()
    page.get_by_label("Search nodes").fill("")
    page.get_by_role("button", name="Fit view", exact=True).click()

    drag(page, page.get_by_test_id("out-manual-payload"), page.get_by_test_id("in-set-input"))
    expect(page.locator(".react-flow__edge")).to_have_count(1)

    # A second edge into `set`'s single-valued input is refused, with the reason.
    drag(page, page.get_by_test_id("out-delay-output"), page.get_by_test_id("in-set-input"))
    notice = page.get_by_role("alert")
    expect(notice).to_contain_text("Connection refused")
    expect(notice).to_contain_text("takes one value and already has an edge")
    expect(page.locator(".react-flow__edge")).to_have_count(1)
    # And a node cannot feed itself.
    drag(page, page.get_by_test_id("out-set-output"), page.get_by_test_id("in-set-input"))
    expect(page.get_by_role("alert")).to_contain_text("cannot be connected to itself")
    shot(page, "canvas-connection-refused")

    saved(page)
    doc = document(page, flow)
    assert sorted(n["type"] for n in doc["nodes"]) == ["data.set", "trigger.manual", "util.delay"]
    assert [
        (e["source"], e["source_port"], e["target"], e["target_port"]) for e in doc["edges"]
    ] == [("manual", "payload", "set", "input")]


def test_side_panel_params_validation_marks_and_undo_redo(page) -> None:
    flow = flow_with(
        page,
        "Panel flow",
        [TRIGGER, {"id": "fetch", "type": "http.request", "position": {"x": 320, "y": 0}}],
        [
            {
                "id": "e1",
                "source": "start",
                "source_port": "payload",
                "target": "fetch",
                "target_port": "input",
            }
        ],
    )
    open_flow(page, flow)
    # No url: the API's problem is drawn on the node and in the problems list.
    mark = node(page, "fetch").get_by_test_id("node-problem")
    expect(mark).to_be_visible()
    expect(page.get_by_test_id("problems")).to_contain_text("url")
    shot(page, "canvas-validation-mark")

    node(page, "fetch").click()
    panel = page.get_by_test_id("inspector")
    expect(panel).to_be_visible()
    url = panel.get_by_test_id("field-params.url")
    expect(url).to_have_attribute("aria-invalid", "true")
    expect(panel.get_by_test_id("problem-params.url")).to_contain_text("required")
    url.fill("https://example.com/{{ inputs.input.id }}")
    expect(panel.get_by_test_id("expression-preview")).to_contain_text("computed at run time")
    panel.get_by_test_id("field-params.method").select_option(label="POST")
    panel.get_by_test_id("retry-max_attempts").fill("3")
    panel.get_by_test_id("on_error").select_option("error_port")
    expect(page.get_by_test_id("out-fetch-error")).to_be_attached()
    expect(mark).to_have_count(0)
    expect(url).not_to_have_attribute("aria-invalid", "true")
    shot(page, "canvas-side-panel")
    saved(page)
    fetch = next(n for n in document(page, flow)["nodes"] if n["id"] == "fetch")
    assert fetch["params"]["url"] == "https://example.com/{{ inputs.input.id }}"
    assert fetch["params"]["method"] == "POST"
    assert fetch["retry"]["max_attempts"] == 3
    assert fetch["on_error"] == "error_port"

    # Undo walks back one setting at a time (typing in the url was one step), redo forward.
    page.get_by_test_id("canvas").locator(".react-flow__pane").click(position={"x": 10, "y": 10})
    expect(panel).to_have_count(0)
    for _ in range(4):
        page.keyboard.press(f"{MOD}+z")
    expect(mark).to_be_visible()
    node(page, "fetch").click()
    expect(page.get_by_test_id("field-params.url")).to_have_value("")
    page.get_by_test_id("canvas").locator(".react-flow__pane").click(position={"x": 10, "y": 10})
    page.keyboard.press(f"{MOD}+Shift+z")
    expect(mark).to_have_count(0)
    page.keyboard.press(f"{MOD}+y")
    page.keyboard.press(f"{MOD}+y")
    page.keyboard.press(f"{MOD}+y")
    saved(page)
    fetch = next(n for n in document(page, flow)["nodes"] if n["id"] == "fetch")
    assert fetch["on_error"] == "error_port" and fetch["params"]["url"].startswith("https://")


def test_copy_paste_duplicate_delete_and_auto_layout(page) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    flow = flow_with(
        page,
        "Clipboard flow",
        [
            TRIGGER,
            {
                "id": "shape",
                "type": "data.set",
                "position": {"x": 0, "y": 300},
                "params": {"values": {"a": 1}},
            },
        ],
        [
            {
                "id": "e1",
                "source": "start",
                "source_port": "payload",
                "target": "shape",
                "target_port": "input",
            }
        ],
    )
    open_flow(page, flow)
    expect(node(page, "shape")).to_be_visible()
    page.get_by_test_id("canvas").locator(".react-flow__pane").click(position={"x": 10, "y": 10})
    page.keyboard.press(f"{MOD}+a")
    page.keyboard.press(f"{MOD}+c")
    expect(page.get_by_role("status").filter(has_text="Copied 2")).to_be_visible()
    copied = json.loads(page.evaluate("navigator.clipboard.readText()"))
    assert copied["schema_version"] == 1 and len(copied["nodes"]) == 2 and len(copied["edges"]) == 1
    page.keyboard.press(f"{MOD}+v")
    expect(page.locator(".react-flow__node-flow")).to_have_count(4)
    expect(page.locator(".react-flow__edge")).to_have_count(2)
    expect(node(page, "manual")).to_be_visible()
    expect(node(page, "set")).to_be_visible()

    # Text that is not a flow is refused with a clear message.
    page.evaluate("navigator.clipboard.writeText('just some words')")
    page.keyboard.press(f"{MOD}+v")
    expect(page.get_by_role("alert")).to_contain_text("does not hold Plait nodes")
    expect(page.locator(".react-flow__node-flow")).to_have_count(4)

    # Duplicate one node, then delete it again.
    node(page, "shape").click()
    page.keyboard.press(f"{MOD}+d")
    expect(page.locator(".react-flow__node-flow")).to_have_count(5)
    expect(node(page, "set_2")).to_be_visible()
    page.keyboard.press("Delete")
    expect(page.locator(".react-flow__node-flow")).to_have_count(4)
    expect(node(page, "set_2")).to_have_count(0)

    # Shortcuts don't fire while typing: Ctrl+A / Delete in the search box leave nodes alone.
    page.get_by_label("Search nodes").fill("abc")
    page.get_by_label("Search nodes").press(f"{MOD}+a")
    page.get_by_label("Search nodes").press("Delete")
    expect(page.locator(".react-flow__node-flow")).to_have_count(4)
    page.get_by_label("Search nodes").fill("")

    page.get_by_role("button", name="Auto-layout").click()
    saved(page)
    shot(page, "canvas-auto-layout")
    doc = document(page, flow)
    pos = {n["id"]: n["position"] for n in doc["nodes"]}
    assert pos["start"]["x"] < pos["shape"]["x"], pos
    assert pos["manual"]["x"] < pos["set"]["x"], pos
    assert {(e["source"], e["target"]) for e in doc["edges"]} == {
        ("start", "shape"),
        ("manual", "set"),
    }
    pasted = next(n for n in doc["nodes"] if n["id"] == "set")
    assert pasted["params"] == {"values": {"a": 1}}


def test_sticky_note_rename_and_reload_find_the_flow_as_saved(page) -> None:
    flow = flow_with(
        page,
        "Reload flow",
        [TRIGGER, {"id": "wait", "type": "util.delay", "position": {"x": 300, "y": 40}}],
    )
    open_flow(page, flow)
    page.get_by_role("button", name="Add note").click()
    note = page.get_by_label("Note text")
    expect(note).to_be_visible()
    note.fill("Why: the delay waits for the upstream cache")
    page.get_by_test_id("flow-name").click()
    page.get_by_label("Flow name").fill("Reloaded flow")
    page.get_by_label("Flow name").press("Enter")
    expect(page.get_by_test_id("flow-name")).to_have_text("Reloaded flow")
    # Move a node by dragging it.
    before = node(page, "wait").bounding_box()
    assert before
    x, y = centre(node(page, "wait").locator(".plait-node-head"))
    page.mouse.move(x, y)
    page.mouse.down()
    for i in range(1, 6):
        page.mouse.move(x + 20 * i, y + 10 * i)
    page.mouse.up()
    saved(page)
    shot(page, "canvas-sticky-note")
    doc = document(page, flow)
    assert doc["name"] == "Reloaded flow"
    assert doc["meta"]["notes"][0]["text"] == "Why: the delay waits for the upstream cache"
    wait = next(n for n in doc["nodes"] if n["id"] == "wait")
    assert wait["position"]["x"] > 300 and wait["position"]["y"] > 40
    assert api(page, "GET", f"/api/flows/{flow['id']}")["name"] == "Reloaded flow"

    page.reload()
    expect(page.get_by_test_id("flow-editor")).to_be_visible()
    expect(page.get_by_label("Note text")).to_have_value(
        "Why: the delay waits for the upstream cache"
    )
    expect(page.get_by_test_id("flow-name")).to_have_text("Reloaded flow")
    expect(page.locator(".react-flow__node-flow")).to_have_count(2)
    # Opening the flow does not change it: nothing is saved back on load.
    saved(page)
    assert document(page, flow) == doc

    # Delete the note: it leaves the document.
    page.get_by_role("button", name="Delete note").click()
    saved(page)
    assert "notes" not in (document(page, flow).get("meta") or {})


def test_a_change_behind_the_editors_back_opens_the_conflict_dialog(page) -> None:
    flow = flow_with(page, "Conflict flow", [TRIGGER])
    open_flow(page, flow)
    current = api(page, "GET", f"/api/flows/{flow['id']}")
    theirs = dict(current["document"], name="Their name")  # type: ignore[index]
    api(
        page,
        "PUT",
        f"/api/flows/{flow['id']}",
        {"document": theirs, "revision": current["revision"]},
    )  # type: ignore[index]

    page.get_by_test_id("palette-util.delay").click()
    dialog = page.get_by_role("dialog", name="This flow was changed elsewhere")
    expect(dialog).to_be_visible(timeout=10_000)
    expect(page.get_by_test_id("save-state")).to_have_text("Conflict")
    shot(page, "canvas-conflict-dialog")

    # Keep mine: my version (with the delay node) is saved over theirs.
    dialog.get_by_role("button", name="Keep mine").click()
    expect(dialog).to_have_count(0)
    saved(page)
    after = api(page, "GET", f"/api/flows/{flow['id']}")
    assert after["revision"] == current["revision"] + 2  # type: ignore[index]
    assert [n["type"] for n in after["document"]["nodes"]] == ["trigger.manual", "util.delay"]  # type: ignore[index]
    assert after["document"]["name"] == "Conflict flow"  # type: ignore[index]

    # Again, and this time reload theirs: the editor shows the server's flow.
    theirs = dict(after["document"], name="Theirs again", nodes=[TRIGGER])  # type: ignore[index]
    api(
        page, "PUT", f"/api/flows/{flow['id']}", {"document": theirs, "revision": after["revision"]}
    )  # type: ignore[index]
    page.get_by_test_id("palette-data.set").click()
    expect(dialog).to_be_visible(timeout=10_000)
    dialog.get_by_role("button", name="Reload theirs").click()
    expect(dialog).to_have_count(0)
    expect(page.get_by_test_id("flow-name")).to_have_text("Theirs again")
    expect(page.locator(".react-flow__node-flow")).to_have_count(1)
    saved(page)
    assert api(page, "GET", f"/api/flows/{flow['id']}")["document"]["name"] == "Theirs again"  # type: ignore[index]


def test_a_thousand_node_flow_opens_and_draws_only_what_is_visible(page) -> None:
    nodes = [TRIGGER] + [
        {
            "id": f"step_{i}",
            "type": "util.delay",
            "position": {"x": 260 * (i % 40), "y": 140 * (i // 40)},
        }
        for i in range(999)
    ]
    edges = [
        {
            "id": f"e{i}",
            "source": f"step_{i - 1}" if i else "start",
            "source_port": "output" if i else "payload",
            "target": f"step_{i}",
            "target_port": "input",
        }
        for i in range(999)
    ]
    flow = flow_with(page, "Big flow", nodes, edges)
    open_flow(page, flow)
    expect(page.locator(".react-flow__node-flow").first).to_be_visible()
    # Zoom in on one corner: only the nodes in view are in the DOM.
    page.get_by_test_id("canvas").locator(".react-flow__pane").click(position={"x": 10, "y": 10})
    for _ in range(8):
        page.get_by_test_id("rf__controls").get_by_role("button", name="Zoom In").click()
    drawn = page.locator(".react-flow__node-flow").count()
    assert 0 < drawn < 400, drawn
    # Pan by dragging the empty pane between two rows of nodes.
    viewport = page.get_by_test_id("canvas").locator(".react-flow__viewport")
    before = viewport.get_attribute("style")
    first = page.locator(".react-flow__node-flow").first.bounding_box()
    assert first
    x, y = first["x"] + first["width"] / 2, first["y"] + first["height"] + 6
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 300, y + 120, steps=10)
    page.mouse.up()
    expect(viewport).not_to_have_attribute("style", before or "")
    expect(page.locator(".react-flow__node-flow").first).to_be_visible()
    shot(page, "canvas-thousand-nodes")
    # Panning is no edit: nothing was moved or saved.
    expect(page.get_by_test_id("save-state")).to_have_text("Saved")
    assert api(page, "GET", f"/api/flows/{flow['id']}")["revision"] == flow["revision"]


def test_multi_select_box_select_and_the_shortcuts_help(page) -> None:
    flow = flow_with(
        page,
        "Select flow",
        [
            TRIGGER,
            {"id": "a", "type": "util.delay", "position": {"x": 300, "y": 0}},
            {"id": "b", "type": "util.delay", "position": {"x": 600, "y": 0}},
        ],
    )
    open_flow(page, flow)
    selected = page.locator(".react-flow__node.selected")
    node(page, "a").click()
    node(page, "b").click(modifiers=["Shift"])
    expect(selected).to_have_count(2)
    expect(page.get_by_test_id("inspector")).to_have_count(0)  # the panel is for one node
    page.keyboard.press("Escape")
    expect(selected).to_have_count(0)

    # Shift-drag on the pane draws a selection box around everything.
    first = node(page, "start").bounding_box()
    last = node(page, "b").bounding_box()
    assert first and last
    page.keyboard.down("Shift")
    page.mouse.move(first["x"] - 30, first["y"] - 30)
    page.mouse.down()
    page.mouse.move(last["x"] + last["width"] + 30, last["y"] + last["height"] + 30, steps=10)
    page.mouse.up()
    page.keyboard.up("Shift")
    expect(selected).to_have_count(3)
    shot(page, "canvas-box-select")
    page.keyboard.press("Delete")
    expect(page.locator(".react-flow__node-flow")).to_have_count(0)
    page.get_by_role("button", name="Undo").click()
    expect(page.locator(".react-flow__node-flow")).to_have_count(3)

    page.keyboard.press("?")
    help_dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(help_dialog).to_contain_text("Duplicate")
    page.keyboard.press("Escape")
    expect(help_dialog).to_have_count(0)


def test_a_runs_status_is_drawn_on_each_node(page) -> None:
    flow = flow_with(
        page,
        "Status flow",
        [
            TRIGGER,
            {
                "id": "shape",
                "type": "data.set",
                "position": {"x": 300, "y": 0},
                "params": {"values": {"who": "{{ inputs.input.name }}"}},
            },
            {
                "id": "boom",
                "type": "http.request",
                "position": {"x": 600, "y": 0},
                "params": {"url": "http://127.0.0.1:9/nothing-listens-here"},
            },
        ],
        [
            {
                "id": "e1",
                "source": "start",
                "source_port": "payload",
                "target": "shape",
                "target_port": "input",
            },
            {
                "id": "e2",
                "source": "shape",
                "source_port": "output",
                "target": "boom",
                "target_port": "input",
            },
        ],
    )
    run = api(page, "POST", f"/api/flows/{flow['id']}/runs", {"input": {"name": "Ada"}})
    page.goto(page.url.split("#")[0] + f"#/flows/{flow['id']}/runs/{run['id']}")  # type: ignore[index]
    expect(node(page, "shape")).to_have_attribute("data-status", "succeeded", timeout=20_000)
    expect(node(page, "boom")).to_have_attribute("data-status", "failed", timeout=20_000)
    expect(node(page, "start")).to_have_attribute("data-status", "succeeded")
    # The expression preview reads the run's data.
    node(page, "shape").click()
    preview = page.get_by_test_id("inspector").get_by_test_id("expression-preview")
    expect(preview).to_contain_text("Ada")
    shot(page, "canvas-run-status")
