"""The scheduler for real: a server fires schedules, runs are recorded, restarts and
downtime meet the misfire policy, and on PostgreSQL several servers fire each slot once."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Backend, ServerProcess, StartServer
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


def contiguous(slots: list[datetime]) -> bool:
    return all(b - a == timedelta(seconds=1) for a, b in itertools.pairwise(slots))


def let_slots_pass(seconds: float) -> None:
    """The server is down: wait (by the clock, which is the point) for slots to go by."""
    until = datetime.now().astimezone() + timedelta(seconds=seconds)
    wait_until(lambda: datetime.now().astimezone() >= until, timeout=seconds + 5, what="time")


def downtime(
    server: ServerProcess, client_fields: dict[str, Any]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A 1-second schedule runs, the server stops for 4 s, starts again and runs on."""
    with server.client() as client:
        made = create_schedule(client, **client_fields)
        wait_fired(client, made["id"], 1)
    server.stop()
    let_slots_pass(4)
    server.start()
    restarted = datetime.now().astimezone()
    with server.client() as client:

        def resumed() -> list[dict[str, Any]] | None:
            entries = history(client, made["id"])
            return entries if entries and slot(entries[-1]) > restarted else None

        entries = wait_until(resumed, timeout=30, what="a run after the restart")
        ok_json(client.post(f"/api/v1/schedules/{made['id']}/pause"))
        entries = history(client, made["id"])
        executions = list_executions(client, task="record")
    assert sorted(e["id"] for e in executions) == sorted(e["execution_id"] for e in fired(entries))
    return made, entries


def test_misfire_skip(start_server: StartServer, tmp_path: Path) -> None:
    server = start_server(tasks=[RECORD_TASK])
    fields = {"misfire": "skip", "misfire_grace_seconds": 1, "params": {"dir": str(tmp_path)}}
    _, entries = downtime(server, fields)
    # the downtime (a busy machine may add a short one of its own)
    skipped = [e for e in entries if e["outcome"] == "skipped"]
    [skip] = [e for e in skipped if e["slots"] >= 3]
    assert skip["execution_id"] is None
    assert all("not run" in e["message"] and e["execution_id"] is None for e in skipped)
    assert all(e["outcome"] in ("fired", "skipped") for e in entries), entries
    # every slot is accounted for once: fired, or inside the skipped range
    covered: list[datetime] = []
    for entry in entries:
        if entry["outcome"] == "skipped":
            first = datetime.fromisoformat(entry["from_slot"])
            covered.extend(first + timedelta(seconds=i) for i in range(entry["slots"]))
            assert covered[-1] == slot(entry)
        else:
            covered.append(slot(entry))
    assert contiguous(covered), covered


def test_misfire_once(start_server: StartServer, tmp_path: Path) -> None:
    server = start_server(tasks=[RECORD_TASK])
    fields = {"misfire": "once", "misfire_grace_seconds": 1, "params": {"dir": str(tmp_path)}}
    _, entries = downtime(server, fields)
    caught = [e for e in entries if e["outcome"] == "caught_up"]
    [once] = [e for e in caught if e["slots"] >= 3]  # the downtime
    assert once["execution_id"]
    assert "one run for" in once["message"]
    assert all(e["execution_id"] for e in caught)
    covered: list[datetime] = []
    for entry in entries:
        first = datetime.fromisoformat(entry["from_slot"] or entry["slot"])
        covered.extend(first + timedelta(seconds=i) for i in range(entry["slots"]))
    assert contiguous(covered), covered
    assert len(fired(entries)) == len(entries)  # one execution per entry, no more


def test_misfire_all(start_server: StartServer, tmp_path: Path) -> None:
    server = start_server(tasks=[RECORD_TASK])
    fields = {"misfire": "all", "misfire_grace_seconds": 1, "params": {"dir": str(tmp_path)}}
    _, entries = downtime(server, fields)
    assert all(e["execution_id"] and e["slots"] == 1 for e in entries), entries
    assert len([e for e in entries if e["outcome"] == "caught_up"]) >= 3
    assert contiguous([slot(e) for e in entries])


def test_misfire_all_is_bounded(start_server: StartServer, tmp_path: Path) -> None:
    server = start_server(tasks=[RECORD_TASK])
    fields = {
        "misfire": "all",
        "misfire_limit": 2,
        "misfire_grace_seconds": 1,
        "params": {"dir": str(tmp_path)},
    }
    _, entries = downtime(server, fields)
    skipped = [e for e in entries if e["outcome"] == "skipped"]
    assert skipped, entries
    after_skip = entries[entries.index(skipped[-1]) + 1 :]
    assert [e["outcome"] for e in after_skip[:2]] in (
        ["caught_up", "caught_up"],
        ["caught_up", "fired"],
        ["fired", "fired"],
    )


def test_crash_during_due_slots_loses_and_repeats_nothing(
    start_server: StartServer, tmp_path: Path
) -> None:
    """kill -9 while a 1-second schedule fires; after the restart every slot has one run."""
    server = start_server(tasks=[RECORD_TASK])
    fields = {"misfire": "all", "misfire_grace_seconds": 600, "params": {"dir": str(tmp_path)}}
    with server.client() as client:
        made = create_schedule(client, **fields)
        wait_fired(client, made["id"], 3)
    server.kill()
    let_slots_pass(2)
    server.start()
    with server.client() as client:
        before = len(history(client, made["id"]))
        entries = wait_fired(client, made["id"], before + 2)
        ok_json(client.post(f"/api/v1/schedules/{made['id']}/pause"))
        entries = history(client, made["id"])
        executions = list_executions(client, task="record")
    slots = [slot(e) for e in entries]
    assert contiguous(slots), slots
    assert all(e["execution_id"] for e in entries), entries
    ids = [e["execution_id"] for e in entries]
    assert len(set(ids)) == len(ids)
    assert sorted(e["id"] for e in executions) == sorted(ids)


def test_three_servers_fire_each_slot_once(
    start_server: StartServer, backend: Backend, tmp_path: Path
) -> None:
    """Three server processes on one PostgreSQL database, five 1-second schedules: every slot
    starts exactly one execution, and every execution runs once."""
    if backend.name != "postgres":
        pytest.skip("several server processes share a PostgreSQL database")
    race = {"scheduler": {"recheck_seconds": 0.2}}
    first = start_server({**race, "node_name": "node-1"}, tasks=[RECORD_TASK])
    shared = {**race, "database_url": first.config["database_url"]}
    others = [
        start_server({**shared, "node_name": f"node-{n}"}, tasks=[RECORD_TASK]) for n in (2, 3)
    ]
    work = tmp_path / "work"
    work.mkdir()
    with first.client() as client:
        made = [create_schedule(client, params={"dir": str(work)}, misfire="all") for _ in range(5)]
        for schedule in made:
            wait_fired(client, schedule["id"], 8)
        for schedule in made:
            ok_json(client.post(f"/api/v1/schedules/{schedule['id']}/pause"))
        entries = {s["id"]: history(client, s["id"]) for s in made}
        executions = list_executions(client, task="record")
        for execution in executions:
            wait_execution(client, execution["id"])
    nodes: set[str] = set()
    for schedule_id, found in entries.items():
        slots = [slot(e) for e in found]
        assert contiguous(slots), (schedule_id, slots)
        assert all(e["execution_id"] and e["slots"] == 1 for e in found), found
        nodes.update(e["node"] for e in found)
    ids = [e["execution_id"] for found in entries.values() for e in found]
    assert len(ids) == len(set(ids)) >= 40
    assert sorted(e["id"] for e in executions) == sorted(ids)
    assert sorted((work / "runs").read_text().split()) == sorted(ids)
    assert nodes <= {"node-1", "node-2", "node-3"}
    for server in [first, *others]:
        assert "Traceback" not in server.log_text()


def test_clocked_and_interval_schedules_fire(start_server: StartServer, tmp_path: Path) -> None:
    server = start_server(tasks=[RECORD_TASK])
    params = {"dir": str(tmp_path)}
    at = (datetime.now().astimezone() + timedelta(seconds=2)).replace(microsecond=0)
    with server.client() as client:
        once = create_schedule(client, kind="clocked", cron=None, at=at.isoformat(), params=params)
        interval = create_schedule(
            client, kind="interval", cron=None, every=1, unit="seconds", params=params
        )
        [entry] = wait_fired(client, once["id"], 1)
        assert slot(entry) == at
        assert ok_json(client.get(f"/api/v1/schedules/{once['id']}"))["state"] == "ended"
        entries = wait_fired(client, interval["id"], 3)
        ok_json(client.post(f"/api/v1/schedules/{interval['id']}/pause"))
        slots = [slot(e) for e in history(client, interval["id"])]
        anchor = datetime.fromisoformat(interval["created_at"])
        assert slots[0] > anchor
        assert all((s - anchor).total_seconds() % 1 == 0 for s in slots), (anchor, slots)
        assert contiguous(slots)
        assert len(entries) >= 3
