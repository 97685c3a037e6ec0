"""Logging in: the login screen for a stranger, the one-time link for the owner."""

from __future__ import annotations

from browserkit import shot
from playwright.sync_api import expect


def test_a_stranger_sees_the_login_screen_and_a_wrong_password_is_refused(
    chromium_browser, editor_server
) -> None:
    context = chromium_browser.new_context()
    page = context.new_page()
    page.goto(editor_server.url + "/")
    form = page.get_by_role("form", name="Log in")
    expect(form).to_be_visible()
    page.get_by_label("Email").fill("admin@localhost")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("wrong email or password")
    shot(page, "login-refused")
    context.close()


def test_the_one_time_link_logs_the_owner_in(page, editor_server) -> None:
    expect(page.get_by_role("form", name="Log in")).to_have_count(0)
    assert page.url.startswith(editor_server.url)
    shot(page, "logged-in")


def test_the_api_helpers_make_a_project_and_a_flow(page) -> None:
    from browserkit import api, new_flow, new_project

    project = new_project(page, "Helpers check")
    flow = new_flow(
        page,
        project["id"],
        {
            "schema_version": 1,
            "name": "Two nodes",
            "nodes": [{"id": "start", "type": "trigger.manual"}],
            "edges": [],
        },
    )
    assert api(page, "GET", f"/api/flows/{flow['id']}")["name"] == "Two nodes"
