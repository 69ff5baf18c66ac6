"""Schedules declared in the config next to their task, and `taskgate schedules ...`."""

from __future__ import annotations

from typing import Any

import yaml

from tests.conftest import StartServer
from tests.integration.test_cli import expect, loads, run_cli
from tests.support import QUICK_CODE, ok_json, py_task

NIGHTLY = {
    "name": "nightly",
    "cron": "30 3 * * *",
    "timezone": "Europe/Riga",
    "params": {"region": "LV"},
}
EVERY_HOUR = {"name": "hourly", "kind": "interval", "every": 1, "unit": "hours"}


def config_task(*schedules: dict[str, Any]) -> dict[str, Any]:
    return py_task(
        "Report",
        QUICK_CODE,
        label="report",
        params=[{"name": "region", "type": "string", "default": "EU"}],
        schedules=list(schedules),
    )


def test_config_schedules_are_synced_with_stable_ids(start_server: StartServer) -> None:
    server = start_server(tasks=[config_task(NIGHTLY, EVERY_HOUR)])
    with server.client() as client:
        first = ok_json(client.get("/api/v1/schedules", params={"task": "report"}))["items"]
    assert sorted(s["name"] for s in first) == ["hourly", "nightly"]
    assert all(s["source"] == "config" and s["state"] == "active" for s in first)
    nightly = next(s for s in first if s["name"] == "nightly")
    assert nightly["params"] == {"region": "LV"}
    assert nightly["task_name"] == "Report"

    server.restart()  # unchanged: same ids, same next slot
    with server.client() as client:
        again = ok_json(client.get("/api/v1/schedules", params={"task": "report"}))["items"]
    assert again == first

    server.stop()  # the hourly schedule leaves the config, the nightly one changes
    server.config["tasks"] = [config_task({**NIGHTLY, "cron": "45 3 * * *"})]
    server.config_path.write_text(yaml.safe_dump(server.config))
    server.start()
    with server.client() as client:
        now = ok_json(client.get("/api/v1/schedules", params={"task": "report"}))["items"]
    assert [(s["id"], s["cron"]) for s in now] == [(nightly["id"], "45 3 * * *")]


def test_a_bad_config_schedule_stops_the_start(start_server: StartServer) -> None:
    server = start_server(tasks=[config_task({"cron": "0 25 * * *"})], start=False)
    assert server.start_or_exit() not in (None, 0)
    assert "cron" in server.log_text()


def test_cli_list_show_next_pause_resume(start_server: StartServer) -> None:
    server = start_server(tasks=[config_task(NIGHTLY)])
    listed = loads(expect(run_cli(server, "schedules", "list", "--json"), 0))
    [schedule] = listed
    schedule_id = schedule["id"]

    table = expect(run_cli(server, "schedules", "list"), 0).stdout
    assert "nightly" in table and "cron 30 3 * * *" in table and "1 schedule(s)" in table

    shown = expect(run_cli(server, "schedules", "show", schedule_id), 0).stdout
    assert "Europe/Riga" in shown and "once (grace 60 s)" in shown

    fires = loads(
        expect(
            run_cli(
                server,
                "schedules",
                "next",
                schedule_id,
                "-n",
                "2",
                "--after",
                "2021-03-27T12:00:00+02:00",
                "--json",
            ),
            0,
        )
    )
    assert [f["local"] for f in fires] == [
        "2021-03-28T04:00:00+03:00",
        "2021-03-29T03:30:00+03:00",
    ]
    text = expect(run_cli(server, "schedules", "next", schedule_id, "-n", "3"), 0).stdout
    assert text.count("03:30:00") == 3

    paused = expect(run_cli(server, "schedules", "pause", schedule_id), 0).stdout
    assert "paused" in paused
    resumed = loads(expect(run_cli(server, "schedules", "resume", schedule_id, "--json"), 0))
    assert resumed["state"] == "active"

    missing = expect(run_cli(server, "schedules", "show", "no-such-schedule"), 1)
    assert "not found" in missing.stderr
    history = loads(expect(run_cli(server, "schedules", "history", schedule_id, "--json"), 0))
    assert history == []
