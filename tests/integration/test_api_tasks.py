"""Tasks: create, read, list, replace, delete, and the errors around them."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.support import (
    QUICK_CODE,
    QUICK_ID,
    create_task,
    error_json,
    ok_json,
    py_task,
    unique,
)


def new_task(**fields: Any) -> dict[str, Any]:
    fields.setdefault("label", unique("task"))
    return py_task(f"Task {fields['label']}", QUICK_CODE, **fields)


def test_create_returns_the_full_task(client: httpx.Client) -> None:
    spec = new_task(
        tags=["t1", "t2"],
        properties={"taskGroup": ["tasks1"]},
        timeout=60,
        retries={"count": 2},
        params=[{"name": "region", "type": "string", "default": "EU"}],
    )
    task = create_task(client, spec)
    uuid.UUID(task["id"])
    assert task["id"] == task["id"].lower()
    assert task["name"] == spec["name"]
    assert task["label"] == spec["label"]
    assert task["description"] == ""
    assert task["tags"] == ["t1", "t2"]
    assert task["properties"] == {"taskGroup": ["tasks1"]}
    assert task["enabled"] is True
    assert task["timeout"] == 60
    assert task["retries"]["count"] == 2
    assert task["concurrency"] == {"max_running": 1, "overlap": "queue", "max_queued": None}
    assert task["params"][0]["name"] == "region"
    assert task["params"][0]["default"] == "EU"
    assert task["action"]["kind"] == "command"
    assert task["action"]["argv"] == spec["action"]["argv"]
    assert task["source"] == "api"
    assert task["created_at"]
    assert task["updated_at"]


def test_create_with_given_id_keeps_it_lower_case(client: httpx.Client) -> None:
    task_id = str(uuid.uuid4())
    task = create_task(client, new_task(id=task_id.upper()))
    assert task["id"] == task_id


def test_get_by_id_and_by_label(client: httpx.Client) -> None:
    task = create_task(client, new_task())
    by_id = ok_json(client.get(f"/api/v1/tasks/{task['id']}"))
    by_label = ok_json(client.get(f"/api/v1/tasks/{task['label']}"))
    assert by_id == task
    assert by_label == task


def test_config_tasks_are_listed_with_source_config(client: httpx.Client) -> None:
    task = ok_json(client.get(f"/api/v1/tasks/{QUICK_ID}"))
    assert task["label"] == "quick"
    assert task["source"] == "config"


def test_list_with_tag_filter(client: httpx.Client) -> None:
    tag = unique("tag")
    mine = [create_task(client, new_task(tags=[tag])) for _ in range(3)]
    create_task(client, new_task(tags=[unique("other")]))
    listing = ok_json(client.get("/api/v1/tasks", params={"tag": tag}))
    assert listing["total"] == 3
    assert sorted(t["id"] for t in listing["items"]) == sorted(t["id"] for t in mine)


def test_list_paging_and_enabled_filter(client: httpx.Client) -> None:
    tag = unique("tag")
    created = [create_task(client, new_task(tags=[tag], enabled=i % 2 == 0)) for i in range(5)]
    page1 = ok_json(client.get("/api/v1/tasks", params={"tag": tag, "limit": 2, "offset": 0}))
    page2 = ok_json(client.get("/api/v1/tasks", params={"tag": tag, "limit": 2, "offset": 2}))
    page3 = ok_json(client.get("/api/v1/tasks", params={"tag": tag, "limit": 2, "offset": 4}))
    assert page1["total"] == page2["total"] == page3["total"] == 5
    assert [len(p["items"]) for p in (page1, page2, page3)] == [2, 2, 1]
    seen = [t["id"] for p in (page1, page2, page3) for t in p["items"]]
    assert sorted(seen) == sorted(t["id"] for t in created)

    disabled = ok_json(client.get("/api/v1/tasks", params={"tag": tag, "enabled": "false"}))
    assert disabled["total"] == 2
    assert all(t["enabled"] is False for t in disabled["items"])


def test_put_replaces_the_whole_task(client: httpx.Client) -> None:
    task = create_task(client, new_task(tags=["old"], description="old text", timeout=30))
    replacement = py_task("Renamed", QUICK_CODE, label=task["label"], tags=["new"])
    replaced = ok_json(client.put(f"/api/v1/tasks/{task['id']}", json=replacement))
    assert replaced["id"] == task["id"]
    assert replaced["name"] == "Renamed"
    assert replaced["tags"] == ["new"]
    # Replaced whole: what the new body leaves out is back to its default.
    assert replaced["description"] == ""
    assert replaced["timeout"] is None
    assert replaced["created_at"] == task["created_at"]
    assert ok_json(client.get(f"/api/v1/tasks/{task['label']}")) == replaced


def test_put_unknown_id_creates(client: httpx.Client) -> None:
    task_id = str(uuid.uuid4())
    created = ok_json(client.put(f"/api/v1/tasks/{task_id}", json=new_task()), 201)
    assert created["id"] == task_id
    assert ok_json(client.get(f"/api/v1/tasks/{task_id}"))["name"] == created["name"]


def test_delete(client: httpx.Client) -> None:
    task = create_task(client, new_task())
    response = client.delete(f"/api/v1/tasks/{task['label']}")
    assert response.status_code == 204, response.text
    error_json(client.get(f"/api/v1/tasks/{task['id']}"), 404, "not_found")
    error_json(client.delete(f"/api/v1/tasks/{task['id']}"), 404, "not_found")


def test_label_survives_recreation(client: httpx.Client) -> None:
    label = unique("again")
    first = create_task(client, new_task(label=label))
    assert client.delete(f"/api/v1/tasks/{first['id']}").status_code == 204
    second = create_task(client, new_task(label=label))
    assert second["id"] != first["id"]
    assert ok_json(client.get(f"/api/v1/tasks/{label}"))["id"] == second["id"]


def test_duplicate_label_is_409(client: httpx.Client) -> None:
    task = create_task(client, new_task())
    body = error_json(
        client.post("/api/v1/tasks", json=new_task(label=task["label"])), 409, "conflict"
    )
    assert task["label"] in body["message"]
    other = create_task(client, new_task())
    error_json(
        client.put(f"/api/v1/tasks/{other['id']}", json=new_task(label=task["label"])),
        409,
        "conflict",
    )


def test_duplicate_id_is_409(client: httpx.Client) -> None:
    task = create_task(client, new_task())
    error_json(client.post("/api/v1/tasks", json=new_task(id=task["id"])), 409, "conflict")


# Named: a random id in the test's name differs between xdist workers' collections.
@pytest.mark.parametrize(
    "ref", [pytest.param(str(uuid.uuid4()), id="random-uuid"), "no-such-label"]
)
def test_unknown_task_is_404_json(client: httpx.Client, ref: str) -> None:
    error_json(client.get(f"/api/v1/tasks/{ref}"), 404, "not_found")
    error_json(client.delete(f"/api/v1/tasks/{ref}"), 404, "not_found")
    error_json(client.post(f"/api/v1/tasks/{ref}/start", json={}), 404, "not_found")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "body.name"),
        ({"label": "has space"}, "body.label"),
        ({"timeout": -1}, "body.timeout"),
        ({"tags": "not-a-list"}, "body.tags"),
        ({"retries": {"count": -1}}, "body.retries.count"),
        ({"concurrency": {"overlap": "sometimes"}}, "body.concurrency.overlap"),
        ({"params": [{"name": "x", "type": "complex"}]}, "body.params.0.type"),
    ],
)
def test_invalid_spec_is_422_naming_the_field(
    client: httpx.Client, change: dict[str, Any], field: str
) -> None:
    spec = new_task()
    spec.update(change)
    body = error_json(client.post("/api/v1/tasks", json=spec), 422, "invalid")
    assert body["field"] == field, body


def test_missing_name_and_bad_action_are_422(client: httpx.Client) -> None:
    spec = new_task()
    del spec["name"]
    body = error_json(client.post("/api/v1/tasks", json=spec), 422, "invalid")
    assert body["field"] == "body.name", body

    spec = new_task()
    spec["action"] = {"kind": "command"}
    body = error_json(client.post("/api/v1/tasks", json=spec), 422, "invalid")
    assert body["field"].startswith("body.action"), body

    spec = new_task()
    spec["action"] = {"kind": "teleport"}
    body = error_json(client.post("/api/v1/tasks", json=spec), 422, "invalid")
    assert body["field"].startswith("body.action"), body


@pytest.mark.parametrize(
    ("change", "name"),
    [
        ({"colour": "blue"}, "colour"),
        ({"retries": {"count": 1, "jitter": 2}}, "jitter"),
        ({"action": {"kind": "command", "argv": ["true"], "shel": True}}, "shel"),
    ],
)
def test_unknown_fields_are_422(client: httpx.Client, change: dict[str, Any], name: str) -> None:
    spec = new_task()
    spec.update(change)
    body = error_json(client.post("/api/v1/tasks", json=spec), 422, "invalid")
    assert name in body["field"], body
    # Nothing was created.
    error_json(client.get(f"/api/v1/tasks/{spec['label']}"), 404, "not_found")
