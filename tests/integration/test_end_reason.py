"""Why a run ended (`end_reason`), and ends that tell the truth about time: the native API and
the event stream say it, and a run whose server was killed ends when it was last seen."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import httpx

from taskgate.core.clock import utcnow
from tests.conftest import ServerProcess, StartServer
from tests.integration.test_api_events import OpenStream, stream  # noqa: F401 (fixture)
from tests.integration.test_cli import run_cli
from tests.integration.test_mqtt import mqtt_config, probe, topics  # noqa: F401 (fixtures)
from tests.mqtt_support import MqttProbe, require_broker
from tests.support import (
    DIR_PARAM,
    GATE_CODE,
    abort,
    create_task,
    py_task,
    start_one,
    unique,
    wait_execution,
    wait_status,
    wait_until,
)


def test_success_and_failure_completed(client: httpx.Client) -> None:
    done = wait_execution(client, start_one(client, "label:quick"))
    assert (done["status"], done["end_reason"]) == ("finished_success", "completed")
    assert done["attempts"][0]["end_reason"] == "completed"
    assert done["aborted_by"] is None
    failed = wait_execution(client, start_one(client, "label:fail"))
    assert (failed["status"], failed["end_reason"]) == ("finished_fail", "completed")


def test_timeout_is_its_own_reason(client: httpx.Client) -> None:
    label = unique("late")
    create_task(
        client, py_task(f"Late {label}", "import time; time.sleep(600)", label=label, timeout=1)
    )
    ended = wait_execution(client, start_one(client, f"label:{label}"))
    assert (ended["status"], ended["end_reason"]) == ("error", "timeout"), ended
    assert ended["attempts"][0]["end_reason"] == "timeout"


def test_abort_says_by_whom_and_events_carry_start_and_reason(
    client: httpx.Client,
    server: ServerProcess,
    stream: OpenStream,  # noqa: F811
) -> None:
    watching = stream(task=["slow"])
    execution_id = start_one(client, "label:slow")
    wait_status(client, execution_id, "started")
    abort(client, execution_id)
    ended = wait_execution(client, execution_id)
    assert (ended["status"], ended["end_reason"]) == ("aborted", "aborted"), ended
    assert ended["aborted_by"], ended
    seen: dict[str, dict[str, object]] = {}
    while "aborted" not in seen:
        event = watching.next()
        if event.type == "execution":
            seen[event.data["status"]] = event.data
    # A running execution's abort request knows when the run started.
    assert seen["abort_initiated"]["started_at"] == seen["started"]["started_at"] is not None
    assert seen["aborted"]["end_reason"] == "aborted"
    assert seen["aborted"]["duration_ms"] is not None
    shown = run_cli(server, "executions", "show", execution_id)
    assert shown.returncode == 0, shown.stderr
    assert f"aborted (by {ended['aborted_by']})" in shown.stdout, shown.stdout


def test_abort_before_start_is_aborted_by_the_caller(client: httpx.Client) -> None:
    label = unique("one")
    create_task(
        client,
        py_task(
            f"One at a time {label}",
            "import time; time.sleep(600)",
            label=label,
            concurrency={"max_running": 1, "overlap": "queue"},
        ),
    )
    first = start_one(client, f"label:{label}")
    waiting = start_one(client, f"label:{label}")
    wait_status(client, first, "started")
    aborted = abort(client, waiting)
    assert (aborted["status"], aborted["end_reason"]) == ("aborted", "aborted"), aborted
    assert aborted["aborted_by"]
    abort(client, first)
    assert wait_execution(client, first)["end_reason"] == "aborted"


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def test_run_killed_with_its_server_ends_when_last_seen(
    start_server: StartServer, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    server = start_server(tasks=[py_task("Gate", GATE_CODE, label="gate", params=[DIR_PARAM])])
    with server.client() as client:
        running = start_one(client, "label:gate", {"dir": str(work)})
        wait_status(client, running, "started")
        wait_until(lambda: (work / f"pid.{running}").exists(), what="the run's pid file")
    killed_at = utcnow()
    server.kill()
    server.restart()
    with server.client() as client:
        dead = wait_execution(client, running)
    assert (dead["status"], dead["end_reason"]) == ("error", "node_lost"), dead
    # It ended when its server was last seen alive, not when the restarted one found it:
    # the downtime is not part of its duration.
    finished = _at(dead["finished_at"])
    assert _at(dead["started_at"]) <= finished <= killed_at, dead
    assert _at(dead["attempts"][0]["finished_at"]) == finished
    assert dead["attempts"][0]["end_reason"] == "node_lost"
    assert dead["duration_ms"] <= (killed_at - _at(dead["started_at"])).total_seconds() * 1000


def test_butler_reports_a_timeout_on_its_aborted_topic(
    start_server: StartServer,
    topics: str,  # noqa: F811 (fixture)
    probe: MqttProbe,  # noqa: F811 (fixture)
) -> None:
    host, port = require_broker()
    late = py_task("Too late", "import time; time.sleep(600)", label="late", timeout=1)
    server = start_server(mqtt_config(host, port, topics), tasks=[late])
    for name in ("task_failure", "task_aborted_full"):
        probe.subscribe(f"{topics}/{name}")
    with server.client() as client:
        ended = wait_execution(client, start_one(client, "label:late"))
        assert ended["end_reason"] == "timeout"
        aborted = probe.wait_on(f"{topics}/task_aborted_full")[0].json()
        assert aborted["executionId"] == ended["id"]
        assert aborted["qs_taskMetadata"]["end_reason"] == "timeout"
    # Published by the same call as the aborted topic would have been: nothing arrives later.
    assert probe.on(f"{topics}/task_failure") == []
