"""The Jaseci door (/js/): async and sync walker_run, queue check and wait through every end,
the scheduling calls with Jaseci's schedule JSON, keys sent as `Authorization: token`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerProcess, StartServer
from tests.support import (
    QUICK_ID,
    STANDARD_TASKS,
    abort,
    parse_secret,
    unique,
    wait_until,
)

JASECI = {"jaseci": {"enabled": True}}


@pytest.fixture
def door(start_server: StartServer) -> ServerProcess:
    return start_server(JASECI, tasks=STANDARD_TASKS)


def _check(client: httpx.Client, task_id: str) -> dict[str, Any]:
    answer = client.get("/js/walker_queue_check", params={"task_id": task_id})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _wait(client: httpx.Client, task_id: str, timeout: float = 30) -> dict[str, Any]:
    answer = client.get(
        "/js/walker_queue_wait", params={"task_id": task_id, "timeout": str(timeout)}
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_async_via_query_json_body_and_multipart(door: ServerProcess) -> None:
    with door.client() as client:
        # JSON body
        queued = client.post(
            "/js/walker_run", json={"name": "quick", "ctx": {"region": "NO"}, "is_async": True}
        ).json()
        assert queued["is_queued"] is True and isinstance(queued["result"], str), queued
        done = _wait(client, queued["result"])
        assert done["status"] == "SUCCESS", done
        assert done["result"]["response"]["success"] is True
        assert done["result"]["response"]["report"][0]["params"]["region"] == "NO"
        # the query wins over the body (false in the body, true in the query)
        queued = client.post(
            "/js/walker_run?is_async=TRUE", json={"name": "quick", "is_async": "false"}
        ).json()
        assert queued["is_queued"] is True, queued
        # multipart, with ctx as an uploaded JSON file, is_async in the query
        files = {"ctx": ("ctx.json", json.dumps({"region": "FI"}), "application/json")}
        queued = client.post(
            "/js/walker_run?is_async=true", data={"name": "Quick task"}, files=files
        ).json()
        assert queued["is_queued"] is True, queued
        checked = wait_until(
            lambda: (c := _check(client, queued["result"]))["status"] == "SUCCESS" and c,
            what="the multipart run to end",
        )
        assert checked["result"]["response"]["report"][0]["params"]["region"] == "FI"
        # multipart with is_async as a field
        queued = client.post("/js/walker_run", data={"name": "quick", "is_async": "true"}).json()
        assert queued["is_queued"] is True, queued


def test_sync_walker_run_answers_the_report(door: ServerProcess) -> None:
    with door.client() as client:
        ok = client.post("/js/walker_run", json={"name": "quick", "ctx": {"region": "SE"}}).json()
        assert ok["success"] is True and ok["report"][0]["params"]["region"] == "SE", ok
        assert "errors" not in ok
        failed = client.get("/js/walker_run", params={"name": "fail"}).json()
        assert failed["success"] is False and failed["errors"], failed
        unknown = client.post("/js/walker_run", json={"name": "no-such-walker"})
        assert unknown.status_code == 404 and unknown.json()["field"] == "name"


def test_check_and_wait_through_failure_abort_and_unknown(
    door: ServerProcess, tmp_path: Path
) -> None:
    with door.client() as client:
        failing = client.post("/js/walker_run?is_async=true", json={"name": "fail"}).json()
        ended = _wait(client, failing["result"])
        assert ended["status"] == "FAILURE", ended
        assert ended["result"]["response"]["success"] is False
        assert _check(client, failing["result"])["status"] == "FAILURE"

        slow = client.post(
            "/js/walker_run?is_async=true", json={"name": "slow", "ctx": {"dir": str(tmp_path)}}
        ).json()
        execution_id = slow["result"]
        wait_until(lambda: any(p.name.startswith("slow.") for p in tmp_path.iterdir()))
        running = _check(client, execution_id)
        assert running == {"status": "STARTED"}  # no result before the end
        waited = _wait(client, execution_id, timeout=0.2)
        assert waited == {"status": "STARTED"}  # never SUCCESS before the end
        abort(client, execution_id)
        stopped = _wait(client, execution_id)
        assert stopped["status"] == "REVOKED", stopped

        for path in ("/js/walker_queue_check", "/js/walker_queue_wait"):
            missing = client.get(path, params={"task_id": "00000000-0000-0000-0000-00000000dead"})
            assert missing.status_code == 404, missing.text
        no_id = client.get("/js/walker_queue_wait")
        assert no_id.status_code == 422 and no_id.json()["field"] == "task_id"
        bad = client.get("/js/walker_queue_wait", params={"task_id": execution_id, "timeout": "x"})
        assert bad.status_code == 422 and bad.json()["field"] == "timeout"


def test_queue_check_without_id_lists_active_and_reserved(
    door: ServerProcess, tmp_path: Path
) -> None:
    with door.client() as client:
        slow = client.post(
            "/js/walker_run?is_async=true", json={"name": "slow", "ctx": {"dir": str(tmp_path)}}
        ).json()
        wait_until(lambda: any(p.name.startswith("slow.") for p in tmp_path.iterdir()))
        queues = client.get("/js/walker_queue_check").json()
        assert set(queues) == {"scheduled", "active", "reserved"}
        active = [item for items in queues["active"].values() for item in items]
        mine = [item for item in active if item["id"] == slow["result"]]
        assert mine and mine[0]["name"] == "Slow task" and mine[0]["hostname"] == "test-node"
        abort(client, slow["result"])
        _wait(client, slow["result"])


def test_schedules_with_jaseci_json(door: ServerProcess) -> None:
    name = unique("nightly")
    with door.client() as client:
        made = client.post(
            "/js/add_scheduled_walker",
            json={
                "name": name,
                "schedule": {"type": "interval", "every": 1, "period": "minutes"},
                "body": {"wlk": "quick", "ctx": {"region": "EU"}, "mst": "urn:uuid:x"},
            },
        )
        assert made.status_code == 200, made.text
        assert made.json()["response"] == "Scheduled Walker created successfully!"
        cron = client.post(
            "/js/add_scheduled_walker",
            json={
                "name": name + "-cron",
                "schedule": {"type": "crontab", "conf": {"minute": "0", "hour": "3"}},
                "body": {"wlk": "quick"},
            },
        )
        assert cron.status_code == 200, cron.text
        solar = client.post(
            "/js/add_scheduled_walker",
            json={
                "name": name + "-solar",
                "schedule": {
                    "type": "solar",
                    "conf": {"event": "sunset", "latitude": 60.17, "longitude": 24.94},
                },
                "body": {"wlk": "quick"},
            },
        )
        assert solar.status_code == 200, solar.text
        listed = client.get("/js/get_scheduled_queues", params={"search": name, "asc": "true"})
        items = listed.json()
        assert [i["name"] for i in items] == [name, name + "-cron", name + "-solar"], items
        assert items[0]["schedule"] == {
            "type": "interval",
            "conf": {"every": 1, "period": "minutes"},
        }
        assert items[0]["kwargs"]["wlk"] == "quick"
        assert items[1]["schedule"]["conf"]["hour"] == "3"
        assert items[2]["schedule"]["type"] == "solar"
        for item in items:
            gone = client.post("/js/delete_scheduled_queue", json={"id": item["id"]})
            assert gone.json()["response"] == "Successfully deleted!"
        again = client.post("/js/delete_scheduled_queue", json={"id": items[0]["id"]})
        assert again.status_code == 404 and "is not existing" in again.json()["message"]


@pytest.mark.parametrize(
    ("schedule", "field"),
    [
        ({"type": "weekly", "conf": {}}, "schedule.type"),
        (
            {"type": "interval", "conf": {"every": 1, "period": "fortnights"}},
            "schedule.conf.period",
        ),
        ({"type": "cron", "conf": {"minute": "61"}}, "schedule"),
        ({"type": "cron", "conf": {"minute": "1,,2"}}, "schedule"),
        ({"type": "clocked", "conf": {"clocked_time": "soon"}}, "schedule.conf.clocked_time"),
        (
            {"type": "solar", "conf": {"event": "moonrise", "latitude": 1, "longitude": 1}},
            "schedule.conf.event",
        ),
    ],
)
def test_bad_schedules_are_400_at_creation(
    door: ServerProcess, schedule: dict[str, Any], field: str
) -> None:
    with door.client() as client:
        answer = client.post(
            "/js/add_scheduled_walker",
            json={"name": unique("bad"), "schedule": schedule, "body": {"wlk": "quick"}},
        )
        assert answer.status_code == 400, answer.text
        assert answer.json()["field"].startswith(field), answer.json()


def test_add_scheduled_sequence_makes_a_sequence_task_and_its_schedule(
    door: ServerProcess,
) -> None:
    name = unique("seq")
    body = {"persistence": {"a": 1}, "requests": [{"method": "GET", "api": "http://127.0.0.1:9/x"}]}
    with door.client() as client:
        made = client.post(
            "/js/add_scheduled_sequence",
            json={
                "name": name,
                "schedule": {"type": "clocked", "conf": {"clocked_time": "2099-01-01T00:00:00Z"}},
                "body": body,
            },
        )
        assert made.status_code == 200, made.text
        task = client.get(f"/api/v1/tasks/{made.json()['task_id']}").json()
        assert task["action"]["kind"] == "sequence" and task["name"] == name
        bad = client.post(
            "/js/add_scheduled_sequence",
            json={
                "name": name,
                "schedule": {"type": "interval"},
                "body": {"requests": [{"method": "JAC", "api": "x"}]},
            },
        )
        assert bad.status_code == 422 and bad.json()["field"].startswith("body.requests.0.method")
        client.post("/js/delete_scheduled_queue", json={"id": made.json()["id"]})
        assert client.get(f"/api/v1/tasks/{made.json()['task_id']}").status_code == 404


def _make_key(server: ServerProcess, role: str, *extra: str) -> str:
    return parse_secret(
        server.cli("keys", "create", "--name", unique(role), "--role", role, *extra)
    )


def test_keys_as_jaseci_sends_them_and_the_allow_list(start_server: StartServer) -> None:
    server = start_server({**JASECI, "auth": "keys"}, tasks=STANDARD_TASKS)
    narrow = _make_key(server, "operator", "--allow-task", QUICK_ID)
    viewer = _make_key(server, "viewer")
    with server.client() as client:
        assert client.post("/js/walker_run", json={"name": "quick"}).status_code == 401
        token = {"Authorization": f"token {narrow}"}
        queued = client.post(
            "/js/walker_run?is_async=true", json={"name": "quick"}, headers=token
        ).json()
        assert queued["is_queued"] is True, queued
        assert _wait_with(client, queued["result"], token)["status"] == "SUCCESS"
        # a run of a task off the key's list is "not found" to it
        admin = {"Authorization": f"token {_admin_secret(server)}"}
        other = client.post("/js/walker_run?is_async=true", json={"name": "fail"}, headers=admin)
        other_id = other.json()["result"]
        hidden = client.get("/js/walker_queue_check", params={"task_id": other_id}, headers=token)
        assert hidden.status_code == 404
        refused = client.post("/js/walker_run", json={"name": "fail"}, headers=token)
        assert refused.status_code == 403
        # a viewer checks but does not start
        seen = client.get(
            "/js/walker_queue_check",
            params={"task_id": other_id},
            headers={"Authorization": f"token {viewer}"},
        )
        assert seen.status_code == 200
        started = client.post(
            "/js/walker_run", json={"name": "quick"}, headers={"Authorization": f"token {viewer}"}
        )
        assert started.status_code == 403
        # schedules: the narrow key sees and deletes only those of its tasks
        for walker in ("quick", "fail"):
            made = client.post(
                "/js/add_scheduled_walker",
                json={
                    "name": f"s-{walker}",
                    "schedule": {"type": "interval"},
                    "body": {"wlk": walker},
                },
                headers=admin,
            )
            assert made.status_code == 200, made.text
        listed = client.get("/js/get_scheduled_queues", headers=token).json()
        assert [s["name"] for s in listed] == ["s-quick"], listed
        everything = client.get("/js/get_scheduled_queues", headers=admin).json()
        other = next(s for s in everything if s["name"] == "s-fail")
        denied = client.post("/js/delete_scheduled_queue", json={"id": other["id"]}, headers=token)
        assert denied.status_code == 404
        # cross-site form posts are refused before any key is looked at
        csrf = client.post(
            "/js/walker_run",
            data={"name": "quick"},
            headers={**token, "Origin": "https://evil.example"},
        )
        assert csrf.status_code == 403 and csrf.json()["field"] == "Origin"


def test_public_walker_callback_takes_its_key_in_the_url(start_server: StartServer) -> None:
    server = start_server({**JASECI, "auth": "keys"}, tasks=STANDARD_TASKS)
    narrow = _make_key(server, "operator", "--allow-task", QUICK_ID)
    token = {"Authorization": f"token {narrow}"}
    url = "/js_public/walker_callback/node-1/quick"
    with server.client() as client:
        # A third party's webhook posts its own payload: its fields are the run's parameters.
        queued = client.post(
            url, params={"key": narrow}, json={"region": "DK", "is_async": True}
        ).json()
        assert queued["is_queued"] is True, queued
        done = _wait_with(client, queued["result"], token)
        assert done["status"] == "SUCCESS", done
        params = done["result"]["response"]["report"][0]["params"]
        assert params["region"] == "DK" and "key" not in params and "is_async" not in params
        sync = client.post(url, params={"key": narrow}, json={"region": "IS"}).json()
        assert sync["success"] is True and sync["report"][0]["params"]["region"] == "IS", sync
        # No key, a wrong key, a task off the key's list, the callback under /js: refused.
        assert client.post(url, json={}).status_code == 401
        assert client.post(url, params={"key": "tg_nope"}, json={}).status_code == 401
        off_list = client.post("/js_public/walker_callback/n/fail", params={"key": narrow}, json={})
        assert off_list.status_code == 403 and off_list.json()["field"] == "wlk"
        assert client.post("/js/walker_callback/n/quick", headers=token).status_code == 404
        assert client.post("/js_public/walker_run", headers=token).status_code == 404


def _admin_secret(server: ServerProcess) -> str:
    return (Path(server.config["data_dir"]) / "admin.key").read_text().strip()


def _wait_with(client: httpx.Client, task_id: str, headers: dict[str, str]) -> dict[str, Any]:
    answer = client.get("/js/walker_queue_wait", params={"task_id": task_id}, headers=headers)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_the_door_is_closed_unless_enabled(start_server: StartServer) -> None:
    server = start_server(tasks=STANDARD_TASKS)
    with server.client() as client:
        assert client.get("/js/walker_queue_check").status_code == 404
