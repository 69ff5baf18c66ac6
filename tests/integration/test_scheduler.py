"""The scheduler for real: a server fires schedules, runs are recorded, restarts and
downtime meet the misfire policy, and on PostgreSQL several servers fire each slot once."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import StartServer
from tests.support import (
    ALLOW,
    DIR_PARAM,
    PRELUDE,
    list_executions,
    ok_json,
    py_task,
    wait_execution,
    wait_until,
)

# Appends its execution id and its slot's parameters to dir/runs.
RECORD_CODE = PRELUDE + "append(os.path.join(D, 'runs'), EID)\nprint('recorded ' + EID)\n"
RECORD_TASK = py_task("Record", RECORD_CODE, label="record", concurrency=ALLOW, params=[DIR_PARAM])
EVERY_SECOND = "* * * * * *"


def create_schedule(client: httpx.Client, **fields: Any) -> dict[str, Any]:
    body = {"task": "record", "cron": EVERY_SECOND, **fields}
    result: dict[str, Any] = ok_json(client.post("/api/v1/schedules", json=body), 201)
    return result


def history(client: httpx.Client, schedule_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = ok_json(
        client.get(f"/api/v1/schedules/{schedule_id}/history", params={"limit": 1000})
    )["items"]
    return items[::-1]  # oldest first


def fired(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in entries if e["execution_id"]]


def slot(entry: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(entry["slot"])


def wait_fired(client: httpx.Client, schedule_id: str, count: int) -> list[dict[str, Any]]:
    def enough() -> list[dict[str, Any]] | None:
        entries = history(client, schedule_id)
        return entries if len(fired(entries)) >= count else None

    return wait_until(enough, timeout=60, what=f"{count} runs of schedule {schedule_id}")


def test_one_second_cron_starts_a_command_each_second(
    start_server: StartServer, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    server = start_server(tasks=[RECORD_TASK])
    with server.client() as client:
        made = create_schedule(client, params={"dir": str(work)}, name="every second")
        wait_fired(client, made["id"], 4)
        ok_json(client.post(f"/api/v1/schedules/{made['id']}/pause"))
        entries = history(client, made["id"])
        runs = fired(entries)
        assert all(e["outcome"] == "fired" for e in entries), entries
        slots = [slot(e) for e in runs]
        # consecutive whole seconds, none twice, none left out
        assert all(s.microsecond == 0 for s in slots)
        assert [b - a for a, b in itertools.pairwise(slots)] == [timedelta(seconds=1)] * (
            len(slots) - 1
        )
        for entry in runs:
            execution = wait_execution(client, entry["execution_id"])
            assert execution["status"] == "finished_success", execution
            assert execution["origin"] == "schedule"
            assert execution["caller"] == "schedule:every second"
            assert execution["params"] == {"dir": str(work)}
            assert datetime.fromisoformat(execution["created_at"]) >= slot(entry)
        recorded = (work / "runs").read_text().split()
        assert sorted(recorded) == sorted(e["execution_id"] for e in runs)
        executions = list_executions(client, task="record")
        assert sorted(e["id"] for e in executions) == sorted(recorded)
        schedule = ok_json(client.get(f"/api/v1/schedules/{made['id']}"))
        assert schedule["fire_count"] == len(runs)
        assert schedule["last_slot"] == runs[-1]["slot"]
