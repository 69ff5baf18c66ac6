"""Butler's `/v4/schedules`, stored in the database, with its `timezone` honoured."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.butler.test_kv import fastify_error
from tests.butler.test_seed_examples import APP1
from tests.conftest import ServerProcess
from tests.support import list_executions, ok_json, unique, wait_until

TEXT = "text/plain; charset=utf-8"


def new_schedule(server: ServerProcess, **fields: Any) -> dict[str, Any]:
    body = {
        "name": unique("nightly"),
        "cronSchedule": "0 6 * * *",
        "timezone": "Europe/Riga",
        "qlikSenseTaskId": APP1["taskId"],
        "startupState": "stopped",
        "tags": ["butler"],
        **fields,
    }
    created = httpx.post(f"{server.url}/v4/schedules", json=body)
    assert created.status_code == 201, created.text
    assert created.headers["content-type"] == TEXT
    schedule: dict[str, Any] = created.json()
    return schedule


def test_create_get_list_and_delete(butler_server: ServerProcess) -> None:
    url = butler_server.url
    made = new_schedule(butler_server, startupState="started")
    assert list(made) == [
        "id",
        "created",
        "name",
        "cronSchedule",
        "timezone",
        "qlikSenseTaskId",
        "startupState",
        "tags",
        "lastKnownState",
    ]
    assert re.fullmatch(r"[0-9a-f-]{36}", made["id"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", made["created"])
    assert made["lastKnownState"] == "started"
    assert made["timezone"] == "Europe/Riga"

    one = httpx.get(f"{url}/v4/schedules", params={"id": made["id"]})
    assert one.headers["content-type"] == TEXT
    assert one.json() == [made]
    everything = httpx.get(f"{url}/v4/schedules")
    assert everything.headers["content-type"] == "application/json; charset=utf-8"
    assert made in everything.json()

    assert httpx.delete(f"{url}/v4/schedules/{made['id']}").status_code == 204
    fastify_error(
        httpx.get(f"{url}/v4/schedules", params={"id": made["id"]}),
        400,
        f"REST SCHEDULER: Schedule ID {made['id']} not found.",
    )
    fastify_error(
        httpx.delete(f"{url}/v4/schedules/{made['id']}"),
        400,
        f"REST SCHEDULER: Delete for schedule ID {made['id']} failed.",
    )


def test_the_time_zone_is_honoured(butler_server: ServerProcess) -> None:
    made = new_schedule(butler_server, cronSchedule="0 6 * * *", timezone="Europe/Riga")
    preview = ok_json(
        butler_server.client().get(
            f"/api/v1/schedules/{made['id']}/next",
            params={"count": 2, "after": "2026-07-01T00:00:00Z"},
        )
    )
    items = preview["items"] if isinstance(preview, dict) else preview
    # 06:00 in Riga in summer (UTC+3) is 03:00 UTC.
    assert [f["at"] for f in items] == ["2026-07-01T03:00:00Z", "2026-07-02T03:00:00Z"]


def test_start_stop_and_all(butler_server: ServerProcess) -> None:
    url = butler_server.url
    made = new_schedule(butler_server)
    started = httpx.put(f"{url}/v4/schedules/{made['id']}/start")
    assert started.headers["content-type"] == TEXT
    assert started.json()[0]["lastKnownState"] == "started"
    native = ok_json(butler_server.client().get(f"/api/v1/schedules/{made['id']}"))
    assert native["enabled"] is True
    stopped = httpx.put(f"{url}/v4/schedules/{made['id']}/stop").json()
    assert stopped[0]["lastKnownState"] == "stopped"
    assert stopped[0]["startupState"] == "stopped"

    all_started = httpx.put(f"{url}/v4/schedules/startall").json()
    assert {s["lastKnownState"] for s in all_started} == {"started"}
    status = httpx.get(f"{url}/v4/schedules/status")
    assert status.headers["content-type"] == TEXT
    assert f"'{made['id']}': 0 6 * * * status: Running \n" in status.text
    all_stopped = httpx.put(f"{url}/v4/schedules/stopall").json()
    assert {s["lastKnownState"] for s in all_stopped} == {"stopped"}
    assert status.text.startswith("{\n") and status.text.endswith("}")

    fastify_error(
        httpx.put(f"{url}/v4/schedules/nope/start"),
        400,
        "REST SCHEDULER: Failed starting schedule ID nope.",
    )
    fastify_error(
        httpx.put(f"{url}/v4/schedules/nope/stop"),
        400,
        "REST SCHEDULER: Failed stopping schedule ID nope.",
    )


def test_bad_schedules_are_refused_not_saved(butler_server: ServerProcess) -> None:
    url = butler_server.url
    missing = httpx.post(f"{url}/v4/schedules", json={"name": "x"})
    fastify_error(missing, 400, "body must have required property 'cronSchedule'")
    bad_state = {
        "name": "x",
        "cronSchedule": "* * * * *",
        "timezone": "UTC",
        "qlikSenseTaskId": APP1["taskId"],
        "startupState": "running",
    }
    fastify_error(
        httpx.post(f"{url}/v4/schedules", json=bad_state),
        400,
        "body/startupState must be equal to one of the allowed values",
    )
    before = len(httpx.get(f"{url}/v4/schedules").json())
    bad_cron = httpx.post(
        f"{url}/v4/schedules",
        json={**bad_state, "startupState": "start", "cronSchedule": "61 * * * *"},
    )
    assert bad_cron.status_code == 400 and "cron" in bad_cron.json()["message"]
    bad_zone = httpx.post(
        f"{url}/v4/schedules",
        json={**bad_state, "startupState": "start", "timezone": "Mars/Olympus"},
    )
    assert bad_zone.status_code == 400 and "Mars/Olympus" in bad_zone.json()["message"]
    assert len(httpx.get(f"{url}/v4/schedules").json()) == before


def test_a_butler_schedule_starts_its_task(butler_server: ServerProcess) -> None:
    made = new_schedule(butler_server, cronSchedule="* * * * * *", startupState="start")
    client = butler_server.client()
    try:
        wait_until(
            lambda: [
                e
                for e in list_executions(client, origin="schedule", limit=500)
                if e["task_id"] == APP1["taskId"]
            ],
            timeout=30,
            what="the every-second schedule starts App1",
        )
    finally:
        httpx.put(f"{butler_server.url}/v4/schedules/{made['id']}/stop").raise_for_status()
