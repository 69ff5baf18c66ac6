"""Leases and node identity: runs die with their server, a dead server's executions are taken
over by another within a lease, exactly once, whatever the node names; servers that start
together on one database do not trip over each other."""

from __future__ import annotations

import os
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.conftest import Backend, ServerProcess, StartServer
from tests.support import (
    DIR_PARAM,
    GATE_CODE,
    SLOW_CODE,
    STUBBORN_CODE,
    get_execution,
    py_task,
    start,
    wait_execution,
    wait_status,
    wait_until,
)

LEASE = 2.0  # the test servers' executor.lease_seconds (tests/conftest.py)
TAKEOVER = LEASE + LEASE / 3 + 5  # a lease, one sweep, and room for a busy machine

STUBBORN = py_task("Stubborn", STUBBORN_CODE, label="stubborn", params=[DIR_PARAM])
SLOW_WITH_RETRY = py_task(
    "Slow, retried",
    SLOW_CODE,
    label="slow-retried",
    params=[DIR_PARAM],
    retries={"count": 1, "delay": 0},
)
ONE_AT_A_TIME = py_task(
    "One at a time",
    GATE_CODE,
    label="one-at-a-time",
    params=[DIR_PARAM],
    concurrency={"max_running": 1, "overlap": "queue"},
)


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def kill_only_the_server(server: ServerProcess) -> None:
    """SIGKILL the server's own process: not its group, not its children."""
    assert server.proc is not None
    os.kill(server.proc.pid, signal.SIGKILL)
    server.proc.wait(10)


def shared_database(backend: Backend, tmp_path: Path) -> dict[str, Any]:
    url = backend.new_database(tmp_path)
    assert url is not None
    return {"database_url": url}


def test_runs_die_with_their_server(start_server: StartServer, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    server = start_server(tasks=[STUBBORN])
    with server.client() as client:
        execution_id = start(client, ["label:stubborn"], {"dir": str(work)})["executions"][0]["id"]
        wait_status(client, execution_id, "started")
    pids_file = work / "pids"
    wait_until(pids_file.exists, what="the run's pids")
    pids = [int(p) for p in pids_file.read_text().split()]
    assert not any(gone(pid) for pid in pids)

    kill_only_the_server(server)
    # Both ignore SIGTERM and run in a session of their own: only the watchdog stops them.
    wait_until(lambda: all(gone(pid) for pid in pids), timeout=15, what="the run's processes")


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_dead_servers_run_is_taken_over_once(
    start_server: StartServer, backend: Backend, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    database = shared_database(backend, tmp_path)
    # Both servers have the node name "test-node": identity is the process, not the name.
    first = start_server(database, tasks=[SLOW_WITH_RETRY])
    with first.client() as client:
        execution_id = start(client, ["label:slow-retried"], {"dir": str(work)})["executions"][0][
            "id"
        ]
        wait_status(client, execution_id, "started")
    pid_file = work / f"slow.{execution_id}.pid"
    wait_until(pid_file.exists, what="the first run's pid")
    first_pid = int(pid_file.read_text())

    second = start_server(database, tasks=[SLOW_WITH_RETRY])
    with second.client() as client:
        # The second server's start did not end the first one's run.
        running = get_execution(client, execution_id)
        assert running["status"] == "started", running
        assert running["attempt_count"] == 1
        assert not gone(first_pid)

        kill_only_the_server(first)
        wait_until(lambda: gone(first_pid), timeout=15, what="the first run's process")
        retried = wait_until(
            lambda: (e := get_execution(client, execution_id))["attempt_count"] == 2 and e,
            timeout=TAKEOVER,
            what="the takeover",
        )
        dead = retried["attempts"][0]
        assert dead["status"] == "error", retried
        assert "server process died while running" in dead["message"]
        assert "(node test-node stopped renewing its lease)" in dead["message"]
        # The retry runs on the second server, once; the first attempt's body ran once.
        wait_until(
            lambda: (
                len(list(work.glob("slow.*.pid"))) == 1 and pid_file.read_text() != str(first_pid)
            ),
            timeout=TAKEOVER,
            what="the retry's pid",
        )
        second_run = get_execution(client, execution_id)
        assert second_run["status"] == "started" and second_run["attempt_count"] == 2
        client.post(f"/api/v1/executions/{execution_id}/abort")
        ended = wait_execution(client, execution_id)
        assert ended["status"] == "aborted"
        assert ended["attempt_count"] == 2


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_task_limit_holds_across_servers(
    start_server: StartServer, backend: Backend, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    database = shared_database(backend, tmp_path)
    servers = [start_server(database, tasks=[ONE_AT_A_TIME]) for _ in range(2)]
    params = {"dir": str(work)}
    ids: list[str] = []
    for index in range(6):
        with servers[index % 2].client() as client:
            ids += [e["id"] for e in start(client, ["label:one-at-a-time"], params)["executions"]]
    with servers[0].client() as client:
        wait_until(lambda: (work / "runs").exists(), what="the first run")
        (work / "release").touch()
        ended = [wait_execution(client, i) for i in ids]
    assert [e["status"] for e in ended] == ["finished_success"] * 6
    assert not (work / "overlap").exists(), (work / "overlap").read_text()
    assert len((work / "runs").read_text().split()) == 6


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_servers_started_together_on_an_empty_database(
    start_server: StartServer, backend: Backend, tmp_path: Path
) -> None:
    database = shared_database(backend, tmp_path)
    task = py_task("Nightly", SLOW_CODE, label="nightly", params=[DIR_PARAM])
    task["schedules"] = [{"name": "at three", "cron": "0 3 * * *"}]
    servers = [start_server(database, tasks=[task], start=False) for _ in range(3)]
    with ThreadPoolExecutor(len(servers)) as pool:
        exits = list(pool.map(ServerProcess.start_or_exit, servers))
    assert exits == [None, None, None], [s.log_text()[-2000:] for s in servers]
    for server in servers:
        with server.client() as client:
            [schedule] = client.get("/api/v1/schedules").json()["items"]
            assert schedule["name"] == "at three"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_one_server_per_sqlite_file(start_server: StartServer, tmp_path: Path) -> None:
    first = start_server()
    second = start_server({"data_dir": first.config["data_dir"]}, start=False)
    assert second.start_or_exit() not in (None, 0)
    assert "another taskgate server is using" in second.log_text()
    with first.client() as client:
        assert client.get("/readyz").status_code == 200
