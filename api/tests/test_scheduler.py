"""The scheduler on a real database (SQLite and PostgreSQL) with an injected clock: firings,
the misfire policy, pause and resume, republishing; and the schedules API.

The clock is injected by calling ``Scheduler.tick(at)`` with chosen instants; publications
carry the real time, so the instants are taken relative to ``published_at``.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from apikit import Api, new_workspace
from sqlalchemy import select

from plait.api.db.models import Run, ScheduleState
from plait.api.scheduling.scheduler import Scheduler
from plait.api.services import schedules as service


def schedule_flow(
    cron: str = "0 * * * *", timezone: str = "UTC", name: str = "Tick", **params: Any
) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "name": name,
        "nodes": [
            {
                "id": "tick",
                "type": "trigger.schedule",
                "version": 1,
                "params": {"cron": cron, "timezone": timezone, **params},
            },
            {"id": "note", "type": "data.template", "version": 1, "params": {"template": "x"}},
        ],
        "edges": [
            {"id": "e1", "source": "tick", "source_port": "fired_at", "target": "note",
             "target_port": "input"}
        ],
    }  # fmt: skip


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def published(
    api: Api, document: dict[str, Any], *, slug: str = "shop", stage: str = "prod"
) -> tuple[dict[str, Any], dict[str, Any], datetime]:
    """(project, flow, published_at) of a new project with ``document`` published."""
    project = ok(api.post("/api/projects", json={"name": slug.title(), "slug": slug}), 201)
    flow = ok(api.post(f"/api/projects/{project['id']}/flows", json={"document": document}), 201)
    return project, flow, republish(api, flow, document, stage=stage)


def republish(
    api: Api, flow: dict[str, Any], document: dict[str, Any], *, stage: str = "prod"
) -> datetime:
    revision = ok(api.get(f"/api/flows/{flow['id']}"))["revision"]
    ok(api.put(f"/api/flows/{flow['id']}", json={"document": document, "revision": revision}))
    publication = ok(api.post(f"/api/flows/{flow['id']}/publish", json={"stage": stage}))
    return datetime.fromisoformat(publication["published_at"]).astimezone(UTC)


def hour_after(when: datetime, hours: int = 1) -> datetime:
    """The top of the ``hours``-th hour after ``when``."""
    return when.replace(minute=0, second=0, microsecond=0) + timedelta(hours=hours)


def runs(platform: Any) -> list[Run]:
    with platform.db.sessions() as session:
        rows = session.scalars(select(Run).order_by(Run.created_at, Run.id)).all()
        session.expunge_all()
        return list(rows)


def fired_at(platform: Any) -> list[datetime]:
    return sorted(datetime.fromisoformat(r.input["fired_at"]) for r in runs(platform))


# -- firing ---------------------------------------------------------------------------------


def test_a_due_firing_makes_one_queued_run_with_its_fire_time(any_api, any_platform):
    _, flow, at = published(any_api, schedule_flow("0 9 * * *", "Europe/London"))
    scheduler = Scheduler(any_platform, dispatch=None)
    nine = datetime.combine(at.date() + timedelta(days=1), datetime.min.time(), UTC).replace(
        hour=9
    )  # 09:00 GMT: London is on winter time in late November

    assert scheduler.tick(nine - timedelta(seconds=1)) == []
    (run_id,) = scheduler.tick(nine + timedelta(seconds=1))
    assert scheduler.tick(nine + timedelta(seconds=2)) == []  # decided: never again

    (run,) = runs(any_platform)
    assert run.id == run_id and run.status == "queued"
    assert (run.flow_id, run.stage, run.trigger, run.trigger_node) == (
        flow["id"],
        "prod",
        "schedule",
        "tick",
    )
    schedule_id = service.schedule_id(
        _stage_id(any_platform, flow["project_id"], "prod"), flow["id"], "tick"
    )
    assert run.input == {
        "fired_at": nine.isoformat(),
        "fired_at_local": nine.isoformat(),  # GMT in November
        "timezone": "Europe/London",
        "cron": "0 9 * * *",
        "schedule_id": schedule_id,
    }
    assert run.idempotency_key == f"schedule:{schedule_id}:{nine:%Y-%m-%dT%H:%M:%SZ}"


def test_two_schedulers_never_start_one_firing_twice(any_api, any_platform):
    _, _, at = published(any_api, schedule_flow("*/10 * * * *"))
    first, second = Scheduler(any_platform, None), Scheduler(any_platform, None)
    # Just after each fire time for 5 h, each instant seen by both.
    now = at.replace(minute=at.minute // 10 * 10, second=1, microsecond=0)
    fired = []
    for _ in range(30):
        now += timedelta(minutes=10)
        fired += first.tick(now) + second.tick(now)
    assert len(fired) == len(set(fired)) == 30
    times = fired_at(any_platform)
    assert len(times) == 30 and all(
        b - a == timedelta(minutes=10) for a, b in itertools.pairwise(times)
    )


def test_a_firing_already_made_is_not_made_again_even_without_the_state_row(any_api, any_platform):
    # The unique idempotency key is the backstop under the state row's lock.
    _, _, at = published(any_api, schedule_flow("0 * * * *"))
    scheduler = Scheduler(any_platform, None)
    assert len(scheduler.tick(hour_after(at) + timedelta(seconds=3))) == 1
    with any_platform.db.session() as session:
        session.query(ScheduleState).delete()

    assert Scheduler(any_platform, None).tick(hour_after(at) + timedelta(seconds=4)) == []
    assert len(runs(any_platform)) == 1


def test_a_flow_no_longer_published_does_not_fire(any_api, any_platform):
    _, flow, at = published(any_api, schedule_flow("0 * * * *"))
    assert any_api.delete(f"/api/flows/{flow['id']}/publish/prod").status_code == 204

    assert Scheduler(any_platform, None).tick(hour_after(at, 3)) == []


# -- misfire policy ---------------------------------------------------------------------------


def test_skip_drops_the_firings_missed_while_down(any_api, any_platform):
    _, _, at = published(any_api, schedule_flow("0 * * * *"))
    scheduler = Scheduler(any_platform, None)

    # Down for five hours: 1h … 4h were missed; 5h is 30 s late, within the grace.
    assert len(scheduler.tick(hour_after(at, 5) + timedelta(seconds=30))) == 1
    assert fired_at(any_platform) == [hour_after(at, 5)]
    # Down again past the grace: nothing fires until the next one in the future.
    assert scheduler.tick(hour_after(at, 7) + timedelta(minutes=2)) == []
    assert len(scheduler.tick(hour_after(at, 8) + timedelta(seconds=1))) == 1
    assert fired_at(any_platform) == [hour_after(at, 5), hour_after(at, 8)]


def test_catch_up_fires_the_newest_missed_firings_oldest_first(any_api, any_platform):
    document = schedule_flow("0 * * * *", misfire="catch_up", catch_up_max=3)
    _, _, at = published(any_api, document)

    assert len(Scheduler(any_platform, None).tick(hour_after(at, 10) + timedelta(minutes=5))) == 3
    assert fired_at(any_platform) == [hour_after(at, h) for h in (8, 9, 10)]
    # Oldest first: the runs were made in fire-time order.
    assert [r.input["fired_at"] for r in runs(any_platform)] == [
        hour_after(at, h).isoformat() for h in (8, 9, 10)
    ]


def test_catch_up_is_bounded_by_the_platform_setting(any_api, any_platform):
    document = schedule_flow("0 * * * *", misfire="catch_up", catch_up_max=50)
    _, _, at = published(any_api, document)
    capped = _same_database(any_platform, scheduler_catch_up_max=2)
    try:
        assert len(Scheduler(capped, None).tick(hour_after(at, 20) + timedelta(minutes=5))) == 2
    finally:
        capped.db.dispose()
    assert fired_at(any_platform) == [hour_after(at, 19), hour_after(at, 20)]


# -- pause, resume, republish -----------------------------------------------------------------


def test_a_paused_schedule_does_not_fire_and_resumes_without_catching_up(any_api, any_platform):
    document = schedule_flow("0 * * * *", misfire="catch_up", catch_up_max=10)
    project, _, at = published(any_api, document)
    (schedule,) = ok(any_api.get(f"/api/projects/{project['id']}/schedules"))
    scheduler = Scheduler(any_platform, None)
    assert len(scheduler.tick(hour_after(at) + timedelta(seconds=1))) == 1

    paused = ok(any_api.post(f"/api/projects/{project['id']}/schedules/{schedule['id']}/pause"))
    assert paused["paused"] is True and paused["paused_at"] is not None
    assert scheduler.tick(hour_after(at, 4) + timedelta(seconds=1)) == []

    # Resumed (the API resumes at its clock; the service takes the instant) at 4h30:
    # 2h … 4h fell in the pause, so catch-up does not start them.
    with any_platform.db.session() as session:
        view = service.get(session, schedule_workspace(any_platform), project["id"], schedule["id"])
        service.resume(session, view, at=hour_after(at, 4) + timedelta(minutes=30))
    assert len(scheduler.tick(hour_after(at, 5) + timedelta(seconds=1))) == 1
    assert fired_at(any_platform) == [hour_after(at), hour_after(at, 5)]


def test_pause_and_firing_state_survive_republishing(any_api, any_platform):
    project, flow, at = published(any_api, schedule_flow("0 * * * *"))
    scheduler = Scheduler(any_platform, None)
    assert len(scheduler.tick(hour_after(at) + timedelta(seconds=1))) == 1
    (before,) = ok(any_api.get(f"/api/projects/{project['id']}/schedules"))
    ok(any_api.post(f"/api/projects/{project['id']}/schedules/{before['id']}/pause"))

    republish(any_api, flow, schedule_flow("0 * * * *", name="Tick again"))
    (after,) = ok(any_api.get(f"/api/projects/{project['id']}/schedules"))
    assert after["id"] == before["id"] and after["version"] == 2
    assert after["paused"] is True and after["flow_name"] == "Tick again"
    assert after["last_fired_at"]["utc"] == before["last_fired_at"]["utc"]
    assert after["last_run_id"] == before["last_run_id"]
    assert scheduler.tick(hour_after(at, 3) + timedelta(seconds=1)) == []

    ok(any_api.post(f"/api/projects/{project['id']}/schedules/{before['id']}/resume"))
    # Resumed: it fires again (the 4th hour is on time, the 2nd and 3rd fell in the pause).
    assert len(scheduler.tick(hour_after(at, 4) + timedelta(seconds=1))) == 1
    assert scheduler.tick(hour_after(at, 4) + timedelta(seconds=2)) == []
    assert fired_at(any_platform) == [hour_after(at), hour_after(at, 4)]


def test_republishing_does_not_fire_what_was_fired_before(any_api, any_platform):
    _, flow, at = published(any_api, schedule_flow("0 * * * *", misfire="catch_up"))
    scheduler = Scheduler(any_platform, None)
    scheduler.tick(hour_after(at) + timedelta(seconds=1))
    republish(any_api, flow, schedule_flow("0 * * * *", misfire="catch_up", name="Again"))

    # The new publication starts now (real time); whatever fired before stays fired.
    assert scheduler.tick(hour_after(at) + timedelta(seconds=5)) == []
    assert len(runs(any_platform)) == 1


# -- the API -------------------------------------------------------------------------------


def test_the_schedules_list_shows_policy_and_the_next_five_fire_times(any_api):
    project, flow, _ = published(
        any_api,
        schedule_flow("30 1 * * *", "Europe/London", misfire="catch_up", catch_up_max=500),
    )
    (item,) = ok(any_api.get(f"/api/projects/{project['id']}/schedules"))

    assert item["stage"] == "prod" and item["flow_id"] == flow["id"] and item["node_id"] == "tick"
    assert (item["cron"], item["timezone"], item["version"]) == ("30 1 * * *", "Europe/London", 1)
    # 500 asked for, capped by PLAIT_SCHEDULER_CATCH_UP_MAX (10 by default).
    assert (item["misfire"], item["catch_up_max"], item["misfire_grace_s"]) == ("catch_up", 10, 60)
    assert (item["paused"], item["last_fired_at"], item["last_run_id"]) == (False, None, None)
    times = item["next_fire_times"]
    assert len(times) == 5
    for time in times:
        utc_time = datetime.fromisoformat(time["utc"])
        local = datetime.fromisoformat(time["local"])
        assert local == utc_time and local.strftime("%H:%M") == "01:30"
    assert item["error"] is None

    assert (
        ok(any_api.get(f"/api/projects/{project['id']}/schedules", params={"stage": "dev"})) == []
    )


def test_viewers_read_schedules_but_cannot_pause(any_api, any_platform):
    project, _, _ = published(any_api, schedule_flow())
    viewer = any_api.as_token(new_workspace(any_platform, "alpha", role="viewer"))
    (item,) = ok(viewer.get(f"/api/projects/{project['id']}/schedules"))

    for action in ("pause", "resume"):
        url = f"/api/projects/{project['id']}/schedules/{item['id']}/{action}"
        response = viewer.post(url)
        assert response.status_code == 403, response.text
    assert ok(any_api.get(f"/api/projects/{project['id']}/schedules"))[0]["paused"] is False


def test_another_workspaces_schedules_are_not_found(any_api, any_platform):
    project, _, _ = published(any_api, schedule_flow())
    (item,) = ok(any_api.get(f"/api/projects/{project['id']}/schedules"))
    beta = any_api.as_token(new_workspace(any_platform, "beta"))

    assert beta.get(f"/api/projects/{project['id']}/schedules").status_code == 404
    url = f"/api/projects/{project['id']}/schedules/{item['id']}"
    assert beta.post(f"{url}/pause").status_code == 404
    assert beta.post(f"{url}/resume").status_code == 404
    # Nor under a project of its own.
    own = ok(beta.post("/api/projects", json={"name": "Own", "slug": "own"}), 201)
    assert beta.post(f"/api/projects/{own['id']}/schedules/{item['id']}/pause").status_code == 404
    assert (
        any_api.post(f"/api/projects/{project['id']}/schedules/{'0' * 32}/pause").status_code == 404
    )
    assert ok(any_api.get(f"/api/projects/{project['id']}/schedules"))[0]["paused"] is False


def test_pause_and_resume_are_idempotent(any_api):
    project, _, _ = published(any_api, schedule_flow())
    (item,) = ok(any_api.get(f"/api/projects/{project['id']}/schedules"))
    url = f"/api/projects/{project['id']}/schedules/{item['id']}"

    first = ok(any_api.post(f"{url}/pause"))
    assert ok(any_api.post(f"{url}/pause"))["paused_at"] == first["paused_at"]
    assert ok(any_api.post(f"{url}/resume"))["paused"] is False
    assert ok(any_api.post(f"{url}/resume"))["paused"] is False


# -- helpers --------------------------------------------------------------------------------


def _stage_id(platform: Any, project_id: str, name: str) -> str:
    from plait.api.db.models import Stage

    with platform.db.sessions() as session:
        return str(
            session.scalar(
                select(Stage.id).where(Stage.project_id == project_id, Stage.name == name)
            )
        )


def schedule_workspace(platform: Any) -> str:
    with platform.db.sessions() as session:
        return str(session.scalar(select(ScheduleState.workspace_id).limit(1)))


def _same_database(platform: Any, **settings: Any) -> Any:
    from plait.api.platform import Platform
    from plait.api.settings import load_settings

    base = platform.settings.model_dump(exclude={"scheduler_catch_up_max"})
    return Platform(load_settings(**{**base, **settings}))
