"""Crash recovery: after kill -9 nothing accepted is lost and nothing runs twice."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx

from tests.conftest import ServerProcess, StartServer
from tests.support import (
    DIR_PARAM,
    GATE_CODE,
    get_execution,
    list_executions,
    py_task,
    start,
    wait_execution,
    wait_status,
    wait_until,
)

GATE_TASK = py_task(
    "Gate",
    GATE_CODE,
    label="gate",
    concurrency={"max_running": 1, "overlap": "queue"},
    params=[DIR_PARAM],
)


def start_gate(client: httpx.Client, work: Path) -> str:
    return str(start(client, ["label:gate"], {"dir": str(work)})["executions"][0]["id"])


def hold_the_gate(client: httpx.Client, work: Path) -> str:
    """A run of the gate that has started and waits there (its pid file written)."""
    running = start_gate(client, work)
    wait_status(client, running, "started")
    wait_until(lambda: (work / f"pid.{running}").exists(), what="first run's pid file")
    return running


def crash_and_release(server: ServerProcess, work: Path) -> None:
    server.kill()  # the server, its process group and every process it started
    (work / "release").touch()  # a run started from now on passes the gate at once
    server.restart()


def test_kill_9_then_restart(start_server: StartServer, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    server = start_server(tasks=[GATE_TASK])
    with server.client() as client:
        running = hold_the_gate(client, work)
        queued = start_gate(client, work)
        assert get_execution(client, queued)["status"] == "queued"

    crash_and_release(server, work)

    with server.client() as client:
        dead = wait_execution(client, running)
        assert dead["status"] == "error", dead
        assert "died" in dead["message"], dead
        assert dead["attempt_count"] == 1
        assert dead["attempts"][0]["status"] == "error"
        assert dead["finished_at"]

        survivor = wait_execution(client, queued)
        assert survivor["status"] == "finished_success", survivor
        assert survivor["attempt_count"] == 1

        executions = list_executions(client, task="gate")
        assert sorted(e["id"] for e in executions) == sorted([running, queued])

    # Each execution's program ran exactly once.
    assert (work / "runs").read_text().split() == [running, queued]


def test_accepted_starts_survive_kill_9(start_server: StartServer, tmp_path: Path) -> None:
    """Every execution acknowledged before the crash is there after it, and runs."""
    work = tmp_path / "work"
    work.mkdir()
    server = start_server(tasks=[GATE_TASK])
    with server.client() as client:
        first = hold_the_gate(client, work)
        accepted = [start_gate(client, work) for _ in range(5)]

    crash_and_release(server, work)

    with server.client() as client:
        for execution_id in accepted:
            assert wait_execution(client, execution_id)["status"] == "finished_success"
        assert wait_execution(client, first)["status"] == "error"
        assert len(list_executions(client, task="gate")) == 6
    runs = (work / "runs").read_text().split()
    assert sorted(runs) == sorted([first, *accepted])


def test_graceful_restart_keeps_history(start_server: StartServer) -> None:
    server = start_server(tasks=[py_task("Quick", "print('hi')", label="q")])
    with server.client() as client:
        done = start(client, ["label:q"], wait=30)["executions"][0]
        assert done["status"] == "finished_success"
    # A graceful stop: exit code 0, or uvicorn's re-raised SIGTERM once shutdown completed.
    assert server.stop() in (0, -signal.SIGTERM)
    server.start()
    with server.client() as client:
        again = get_execution(client, done["id"])
        assert again["status"] == "finished_success"
        assert "hi" in client.get(f"/api/v1/executions/{done['id']}/log").json()["data"]
