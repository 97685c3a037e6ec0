"""The Stages tab shows a published flow's schedules: cron, zone, policy, the next fire times in
the schedule's own zone, and pause/resume (docs/scheduler.md)."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from browserkit import api, new_flow, new_project, shot
from playwright.sync_api import expect


def _daily(name: str) -> dict:
    """A flow that starts every day at 01:30 in London, catching up on missed days."""
    return {
        "schema_version": 1,
        "name": name,
        "nodes": [
            {
                "id": "nightly",
                "type": "trigger.schedule",
                "params": {
                    "cron": "30 1 * * *",
                    "timezone": "Europe/London",
                    "misfire": "catch_up",
                    "catch_up_max": 3,
                },
            },
            {"id": "note", "type": "data.template", "params": {"template": "tick"}},
        ],
        "edges": [
            {"id": "e1", "source": "nightly", "source_port": "fired_at", "target": "note",
             "target_port": "input"}
        ],
    }  # fmt: skip


def test_stages_show_schedules_with_next_fire_times_and_pause_them(page) -> None:
    project = new_project(page, f"Schedules {uuid.uuid4().hex[:6]}")
    flow = new_flow(page, project["id"], _daily("Nightly report"))
    api(page, "POST", f"/api/flows/{flow['id']}/publish", {"stage": "prod"})
    origin = urlsplit(page.url)
    page.goto(f"{origin.scheme}://{origin.netloc}/#/projects/{project['id']}/stages")

    prod = page.get_by_test_id("stage-prod")
    schedule = prod.get_by_test_id("schedule")
    expect(schedule).to_have_count(1)
    expect(schedule).to_contain_text("30 1 * * *")
    expect(schedule).to_contain_text("in Europe/London")
    expect(schedule).to_contain_text("caught up (at most 3)")
    expect(schedule).to_contain_text("not fired yet")
    # Five fire times, each 01:30 as London reads it (GMT or BST), the UTC instant in the title.
    times = schedule.get_by_test_id("schedule-next").locator("time")
    expect(times).to_have_count(5)
    for text in times.all_inner_texts():
        assert " 01:30 +0" in text, text
    expect(schedule.get_by_test_id("schedule-state")).to_have_text("active")
    shot(page, "stages-schedule")

    schedule.get_by_role("button", name="Pause schedule nightly").click()
    expect(schedule.get_by_test_id("schedule-state")).to_have_text("paused")
    expect(schedule).to_contain_text("would fire next")
    (listed,) = api(page, "GET", f"/api/projects/{project['id']}/schedules")
    assert listed["paused"] is True

    schedule.get_by_role("button", name="Resume schedule nightly").click()
    expect(schedule.get_by_test_id("schedule-state")).to_have_text("active")
    (listed,) = api(page, "GET", f"/api/projects/{project['id']}/schedules")
    assert listed["paused"] is False
