"""The schedules API: CRUD, pause/resume, preview, history, and 422s naming the field."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support import QUICK_ID, error_json, ok_json, unique

RIGA_SPRING = "2021-03-27T12:00:00+02:00"


def create(client: httpx.Client, **fields: Any) -> dict[str, Any]:
    body = {"task": "quick", "cron": "0 3 * * *", **fields}
    result: dict[str, Any] = ok_json(client.post("/api/v1/schedules", json=body), 201)
    return result


def test_create_read_list_delete(client: httpx.Client) -> None:
    name = unique("nightly")
    made = create(
        client,
        name=name,
        cron="30 3 * * *",
        timezone="Europe/Riga",
        params={"region": "LV"},
        tags=["night"],
    )
    assert made["task"] == QUICK_ID
    assert made["task_name"] == "Quick task"
    assert made["state"] == "active"
    assert made["kind"] == "cron"
    assert made["misfire"] == "once"
    assert made["source"] == "api"
    assert made["next_fire_at"] == made["next_slot"]
    assert made["params"] == {"region": "LV"}
    got = ok_json(client.get(f"/api/v1/schedules/{made['id']}"))
    assert got == made
    listed = ok_json(client.get("/api/v1/schedules", params={"task": "quick", "limit": 1000}))
    assert made["id"] in [s["id"] for s in listed["items"]]
    assert listed["total"] >= 1
    assert client.delete(f"/api/v1/schedules/{made['id']}").status_code == 204
    error_json(client.get(f"/api/v1/schedules/{made['id']}"), 404, "not_found")
    error_json(client.delete(f"/api/v1/schedules/{made['id']}"), 404, "not_found")


def test_put_creates_then_replaces(client: httpx.Client) -> None:
    schedule_id = unique("sched")
    body = {"task": "quick", "kind": "interval", "every": 5, "unit": "minutes"}
    first = client.put(f"/api/v1/schedules/{schedule_id}", json=body)
    assert first.status_code == 201, first.text
    assert first.json()["id"] == schedule_id
    body["every"] = 10
    second = ok_json(client.put(f"/api/v1/schedules/{schedule_id}", json=body))
    assert second["every"] == 10
    assert second["created_at"] == first.json()["created_at"]
    error_json(client.post("/api/v1/schedules", json={**body, "id": schedule_id}), 409, "conflict")


def test_pause_and_resume(client: httpx.Client) -> None:
    made = create(client)
    paused = ok_json(client.post(f"/api/v1/schedules/{made['id']}/pause"))
    assert paused["state"] == "paused"
    assert paused["enabled"] is False
    assert paused["next_fire_at"] is None
    # a paused schedule still previews
    assert len(ok_json(client.get(f"/api/v1/schedules/{made['id']}/next"))["items"]) == 10
    resumed = ok_json(client.post(f"/api/v1/schedules/{made['id']}/resume"))
    assert resumed["state"] == "active"
    assert resumed["next_fire_at"] is not None
    enabled = ok_json(client.get("/api/v1/schedules", params={"enabled": "false", "limit": 1000}))
    assert made["id"] not in [s["id"] for s in enabled["items"]]


def test_preview_across_a_dst_change(client: httpx.Client) -> None:
    made = create(client, cron="30 3 * * *", timezone="Europe/Riga")
    page = ok_json(
        client.get(
            f"/api/v1/schedules/{made['id']}/next", params={"count": 3, "after": RIGA_SPRING}
        )
    )
    assert [f["local"] for f in page["items"]] == [
        "2021-03-28T04:00:00+03:00",
        "2021-03-29T03:30:00+03:00",
        "2021-03-30T03:30:00+03:00",
    ]
    assert page["items"][0]["at"].startswith("2021-03-28T01:00:00")


def test_solar_preview_says_which_days_are_skipped(client: httpx.Client) -> None:
    made = create(
        client,
        kind="solar",
        cron=None,
        event="sunrise",
        latitude=69.6496,
        longitude=18.956,
        timezone="Europe/Oslo",
    )
    page = ok_json(
        client.get(
            f"/api/v1/schedules/{made['id']}/next",
            params={"count": 2, "after": "2021-12-01T00:00:00+01:00"},
        )
    )
    first, second = page["items"]
    assert first["local"].startswith("2022-01-15")
    assert "no sunrise from 2021-12-01" in first["note"]
    assert second["note"] == ""


def test_history_of_a_new_schedule_is_empty(client: httpx.Client) -> None:
    made = create(client)
    assert ok_json(client.get(f"/api/v1/schedules/{made['id']}/history")) == {"items": []}
    error_json(client.get("/api/v1/schedules/nope/history"), 404, "not_found")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"task": "quick", "cron": "61 * * * *"}, "cron"),
        ({"task": "quick", "cron": "* * *"}, "cron"),
        ({"task": "quick", "cron": "0 0 * * mon#9"}, "cron"),
        ({"task": "quick"}, "cron"),
        ({"task": "quick", "cron": "@daily", "timezone": "Europe/Atlantis"}, "timezone"),
        ({"task": "no-such-task", "cron": "@daily"}, "task"),
        ({"task": "typed", "cron": "@daily"}, "params.count"),
        ({"task": "typed", "cron": "@daily", "params": {"count": "many"}}, "params.count"),
        ({"task": "quick", "kind": "interval"}, "every"),
        ({"task": "quick", "kind": "interval", "every": 0}, "body.every"),
        ({"task": "quick", "kind": "solar", "event": "sunrise", "longitude": 3}, "latitude"),
        ({"task": "quick", "kind": "solar", "event": "moonrise"}, "body.event"),
        ({"task": "quick", "kind": "solar", "event": "sunset", "latitude": 91}, "body.latitude"),
        ({"task": "quick", "kind": "clocked"}, "at"),
        ({"task": "quick", "kind": "clocked", "at": "2030-01-01T00:00:00"}, "body.at"),
        ({"task": "quick", "cron": "@daily", "misfire": "sometimes"}, "body.misfire"),
        ({"task": "quick", "cron": "@daily", "surprise": 1}, "body.surprise"),
        ({"task": "quick", "cron": "@daily", "id": "no spaces"}, "body.id"),
        (
            {
                "task": "quick",
                "cron": "@daily",
                "start_at": "2030-01-02T00:00:00Z",
                "end_at": "2030-01-01T00:00:00Z",
            },
            "end_at",
        ),
    ],
)
def test_bad_input_is_422_naming_the_field(
    client: httpx.Client, body: dict[str, Any], field: str
) -> None:
    answer = error_json(client.post("/api/v1/schedules", json=body), 422, "invalid")
    assert answer["field"] == field, answer
    assert field.removeprefix("body.") in answer["message"], answer


def test_bad_preview_queries(client: httpx.Client) -> None:
    made = create(client)
    url = f"/api/v1/schedules/{made['id']}/next"
    assert error_json(client.get(url, params={"count": 0}), 422, "invalid")["field"] == (
        "query.count"
    )
    assert error_json(client.get(url, params={"after": "soon"}), 422, "invalid")["field"] == (
        "query.after"
    )
    naive = error_json(client.get(url, params={"after": "2030-01-01T00:00:00"}), 422, "invalid")
    assert naive["field"] == "after"
    error_json(client.get("/api/v1/schedules/missing/next"), 404, "not_found")
