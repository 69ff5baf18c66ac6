"""The `qlik` action end to end: a second taskgate instance plays the Qlik Sense site.

The remote instance serves its QRS door over HTTPS on its own port and wants client
certificates signed by a test CA (trustme). Its tasks are ordinary command tasks; their ids
are the remote task ids. The local instance reaches it as site `remote` with the client
certificate, runs `qlik` tasks declared in its config, and syncs the remote tasks (filtered
by tag) so that a Butler-style start by tag on the local instance starts runs over there.
"""

from __future__ import annotations

import re
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerFactory, ServerProcess, StartServer, free_port
from tests.support import (
    abort,
    get_execution,
    list_executions,
    ok_json,
    read_log,
    start_one,
    unique,
    wait_execution,
    wait_until,
)
from tests.tls_support import Pki, make_pki

OK_ID = "2f0c9e1a-1111-4a5b-8c7d-000000000001"
OK2_ID = "2f0c9e1a-1111-4a5b-8c7d-000000000002"
FAIL_ID = "2f0c9e1a-1111-4a5b-8c7d-000000000003"
SLOW_ID = "2f0c9e1a-1111-4a5b-8c7d-000000000004"
OFF_ID = "2f0c9e1a-1111-4a5b-8c7d-000000000005"
UNTAGGED_ID = "2f0c9e1a-1111-4a5b-8c7d-000000000006"
MISSING_ID = "2f0c9e1a-1111-4a5b-8c7d-0000000000ff"

# Leaves dir/started.<execution id> and runs until stopped (two minutes at most).
SLOW_CODE = """\
import os, sys, time
d = os.environ['MARK_DIR']
open(os.path.join(d, 'started.' + os.environ['TASKGATE_EXECUTION_ID']), 'w').close()
print('slow remote run started', flush=True)
for _ in range(1200):
    time.sleep(0.1)
"""


def command(code: str, **env: str) -> dict[str, Any]:
    return {"kind": "command", "argv": [sys.executable, "-c", code], "env": env}


def remote_tasks(mark_dir: Path) -> list[dict[str, Any]]:
    many = {"max_running": 10, "overlap": "allow"}
    return [
        {
            "id": OK_ID,
            "name": "Reload Sales",
            "tags": ["nightly"],
            "properties": {"group": ["g1"]},
            "concurrency": many,
            "action": command("print('remote reload ok')"),
        },
        {
            "id": OK2_ID,
            "name": "Reload Finance",
            "tags": ["nightly", "finance"],
            "concurrency": many,
            "action": command("print('remote reload 2 ok')"),
        },
        {
            "id": FAIL_ID,
            "name": "Reload Broken",
            "tags": ["e2e"],
            "concurrency": many,
            "action": command("import sys; print('remote failing'); sys.exit(1)"),
        },
        {
            "id": SLOW_ID,
            "name": "Reload Slow",
            "tags": ["e2e"],
            "concurrency": many,
            "action": command(SLOW_CODE, MARK_DIR=str(mark_dir)),
        },
        {
            "id": OFF_ID,
            "name": "Reload Disabled",
            "tags": ["e2e"],
            "enabled": False,
            "action": command("print('never')"),
        },
        {"id": UNTAGGED_ID, "name": "Not for sync", "action": command("print('untagged')")},
    ]


def remote_config(pki: Pki, qrs_port: int) -> dict[str, Any]:
    return {
        "qrs": {
            "enabled": True,
            "allow_from": ["127.0.0.1/32", "::1/128"],
            "listen": {
                "host": "127.0.0.1",
                "port": qrs_port,
                "cert": str(pki.server_cert),
                "key": str(pki.server_key),
                "client_ca": str(pki.ca),
            },
        }
    }


def site(pki: Pki, qrs_port: int, **fields: Any) -> dict[str, Any]:
    return {
        "name": "remote",
        "host": "127.0.0.1",
        "port": qrs_port,
        "client_cert": str(pki.client_cert),
        "client_key": str(pki.client_key),
        "ca": str(pki.ca),
        "user_directory": "INTERNAL",
        "user_id": "sa_scheduler",
        "poll_min_seconds": 0.1,
        "poll_max_seconds": 0.5,
        "unreachable_limit_seconds": 60,
        "stop_wait_seconds": 30,
        **fields,
    }


def qlik_task(label: str, remote_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "name": f"Remote {label}",
        "label": label,
        "concurrency": {"max_running": 10, "overlap": "allow"},
        "action": {"kind": "qlik", "site": "remote", "task_id": remote_id},
        **fields,
    }


LOCAL_TASKS = [
    qlik_task("r-ok", OK_ID),
    qlik_task("r-fail", FAIL_ID),
    qlik_task("r-slow", SLOW_ID),
    qlik_task("r-slow-timeout", SLOW_ID, timeout=2),
    qlik_task("r-off", OFF_ID),
    qlik_task("r-missing", MISSING_ID),
]


@dataclass
class Pair:
    local: ServerProcess
    remote: ServerProcess
    mark_dir: Path

    def remote_execution(self, execution_id: str) -> dict[str, Any]:
        with self.remote.client() as http:
            return get_execution(http, execution_id)

    def remote_started(self) -> set[str]:
        return {p.name.split(".", 1)[1] for p in self.mark_dir.glob("started.*")}


def make_pair(
    servers: StartServer | ServerFactory, root: Path, *, sync: dict[str, Any] | None
) -> Pair:
    pki = make_pki(root / "pki", "taskgate-qlik-client")
    mark_dir = root / "marks"
    mark_dir.mkdir()
    qrs_port = free_port()
    remote = servers(remote_config(pki, qrs_port), tasks=remote_tasks(mark_dir))
    fields = {"sync": sync} if sync else {}
    local = servers(
        {"qlik": {"sites": [site(pki, qrs_port, **fields)]}, "butler": {"enabled": True}},
        tasks=LOCAL_TASKS,
    )
    return Pair(local, remote, mark_dir)


@pytest.fixture(scope="module")
def pair(_module_servers: ServerFactory, tmp_path_factory: pytest.TempPathFactory) -> Pair:
    sync = {"enabled": True, "interval_seconds": 1, "filter": "tags.name eq 'nightly'"}
    return make_pair(_module_servers, tmp_path_factory.mktemp("qlik-pair"), sync=sync)


@pytest.fixture
def local(pair: Pair) -> Iterator[httpx.Client]:
    with pair.local.client() as http:
        yield http


def remote_run_of(pair: Pair, execution: dict[str, Any]) -> dict[str, Any]:
    """The remote execution our execution followed (its session id is the remote's id)."""
    result = execution["result"]
    assert result["site"] == "remote", execution
    return pair.remote_execution(result["session_id"])


# --- start by id ---------------------------------------------------------------------------


def test_success(pair: Pair, local: httpx.Client) -> None:
    execution = wait_execution(local, start_one(local, "r-ok"))
    assert execution["status"] == "finished_success", execution
    assert execution["result"]["remote_status"] == 7
    assert execution["result"]["remote_status_name"] == "FinishedSuccess"
    assert execution["result"]["task_id"] == OK_ID
    remote = remote_run_of(pair, execution)
    assert remote["task_id"] == OK_ID
    assert remote["status"] == "finished_success"
    assert remote["origin"] == "qrs"
    log = read_log(local, execution["id"])
    assert f"started: execution session {execution['result']['session_id']}" in log
    assert "[remote " in log, log  # the remote's details messages, with their timestamps
    assert "run ended on site remote: FinishedSuccess" in log
    assert "remote reload ok" in log  # the remote run's own log, as its script log


def test_failure(pair: Pair, local: httpx.Client) -> None:
    execution = wait_execution(local, start_one(local, "r-fail"))
    assert execution["status"] == "finished_fail", execution
    assert execution["result"]["remote_status"] == 8
    assert execution["message"].startswith("FinishedFail on site remote")
    assert remote_run_of(pair, execution)["status"] == "finished_fail"
    assert execution["message"] == "FinishedFail on site remote: exited with code 1"
    assert "remote failing" in read_log(local, execution["id"])


def test_a_disabled_remote_task_does_not_start(local: httpx.Client) -> None:
    execution = wait_execution(local, start_one(local, "r-off"))
    assert execution["status"] == "error", execution
    assert "did not start on site remote" in execution["message"]


def test_an_unknown_remote_task(local: httpx.Client) -> None:
    execution = wait_execution(local, start_one(local, "r-missing"))
    assert execution["status"] == "error", execution
    assert execution["message"] == f"no such task on site remote: {MISSING_ID}"


def test_abort_stops_the_remote_run(pair: Pair, local: httpx.Client) -> None:
    before = pair.remote_started()
    execution_id = start_one(local, "r-slow")
    remote_ids = wait_until(lambda: pair.remote_started() - before, what="remote run started")
    abort(local, execution_id)
    execution = wait_execution(local, execution_id)
    assert execution["status"] == "aborted", execution
    assert execution["result"]["stopped"] == "abort"
    assert execution["message"] == "aborted; the run on site remote was stopped (Aborted)"
    remote = remote_run_of(pair, execution)
    assert remote["id"] in remote_ids
    assert remote["status"] == "aborted"
    log = read_log(local, execution_id)
    assert "abort asked: stopping the run on site remote" in log
    assert "stop accepted by site remote" in log


def test_timeout_stops_the_remote_run(pair: Pair, local: httpx.Client) -> None:
    execution = wait_execution(local, start_one(local, "r-slow-timeout"))
    assert execution["status"] == "error", execution
    assert execution["message"] == (
        "timed out after 2s; the run on site remote was stopped (Aborted)"
    )
    assert execution["result"]["stopped"] == "timeout"
    assert remote_run_of(pair, execution)["status"] == "aborted"


# --- sync, and a Butler-style start by tag ---------------------------------------------------


def synced(local: httpx.Client, task_id: str) -> dict[str, Any] | None:
    response = local.get(f"/api/v1/tasks/{task_id}")
    return response.json() if response.status_code == 200 else None


def test_sync_imports_the_filtered_remote_tasks(local: httpx.Client) -> None:
    task = wait_until(lambda: synced(local, OK_ID), what="remote task synced")
    assert task["source"] == "qlik"
    assert task["name"] == "Reload Sales"
    assert task["tags"] == ["nightly"]
    assert task["properties"] == {"group": ["g1"]}
    assert task["enabled"] is True
    assert task["action"]["kind"] == "qlik"
    assert task["action"]["site"] == "remote"
    assert task["action"]["task_id"] == OK_ID
    assert wait_until(lambda: synced(local, OK2_ID))["tags"] == ["nightly", "finance"]
    # the filter keeps the other tasks of the site out
    for task_id in (FAIL_ID, SLOW_ID, UNTAGGED_ID):
        assert local.get(f"/api/v1/tasks/{task_id}").status_code == 404
    ready = ok_json(local.get("/readyz"))
    assert re.match(r"remote: synced \d+ tasks \(", ready["checks"]["qlik"]), ready
    # later syncs that find nothing new leave the tasks alone
    seen = {ready["checks"]["qlik"]}

    def two_more_syncs() -> bool:
        seen.add(ok_json(local.get("/readyz"))["checks"]["qlik"])
        return len(seen) >= 3

    wait_until(two_more_syncs, what="two more syncs")
    assert ok_json(local.get(f"/api/v1/tasks/{OK_ID}"))["updated_at"] == task["updated_at"]


def test_a_butler_start_by_tag_runs_the_synced_tasks_on_the_site(
    pair: Pair, local: httpx.Client
) -> None:
    wait_until(lambda: synced(local, OK_ID) and synced(local, OK2_ID), what="tasks synced")
    body = [{"type": "starttasktag", "payload": {"tag": "nightly"}}]
    answer = ok_json(local.put("/v4/reloadtask/-/start", json=body))
    started = {entry["taskId"] for entry in answer["tasksTag"]}
    assert started == {OK_ID, OK2_ID}, answer
    for task_id in started:
        [execution] = list_executions(local, task=task_id, origin="butler")
        execution = wait_execution(local, execution["id"])
        assert execution["status"] == "finished_success", execution
        remote = remote_run_of(pair, execution)
        assert (remote["task_id"], remote["status"]) == (task_id, "finished_success")


def test_synced_tasks_follow_the_site(pair: Pair, local: httpx.Client) -> None:
    name = unique("Reload new")
    new: dict[str, Any] = {
        "name": name,
        "tags": ["nightly"],
        "action": command("print('new')"),
    }
    with pair.remote.client() as remote:
        created = ok_json(remote.post("/api/v1/tasks", json=new), 201)
        wait_until(lambda: synced(local, created["id"]), what="new remote task synced")
        # changed there, changed here
        changed = {**new, "name": name + " v2", "tags": ["nightly", "v2"]}
        ok_json(remote.put(f"/api/v1/tasks/{created['id']}", json=changed))
        wait_until(
            lambda: (synced(local, created["id"]) or {}).get("tags") == ["nightly", "v2"],
            what="change synced",
        )
        # gone there, gone here
        assert remote.delete(f"/api/v1/tasks/{created['id']}").status_code == 204
    wait_until(lambda: synced(local, created["id"]) is None, what="deletion synced")


def test_a_synced_task_is_changed_on_the_site_not_here(local: httpx.Client) -> None:
    task = wait_until(lambda: synced(local, OK_ID))
    spec = {k: task[k] for k in ("name", "tags", "properties", "action")}
    response = local.put(f"/api/v1/tasks/{OK_ID}", json={**spec, "enabled": False})
    assert response.status_code == 409, response.text
    assert "synced from Qlik Sense site 'remote'" in response.json()["message"]
    assert local.delete(f"/api/v1/tasks/{OK_ID}").status_code == 409


# --- the site restarts in the middle of a run --------------------------------------------------


def test_remote_restart_in_the_middle_of_a_run(start_server: StartServer, tmp_path: Path) -> None:
    pair = make_pair(start_server, tmp_path, sync=None)
    with pair.local.client() as local:
        execution_id = start_one(local, "r-slow")
        wait_until(pair.remote_started, what="remote run started")
        pair.remote.kill()  # kill -9, the remote's command with it
        pair.remote.start()  # same port, same data: its recovery ends the run as error
        execution = wait_execution(local, execution_id, timeout=120)
        assert execution["status"] == "error", execution
        log = read_log(local, execution_id)
    assert execution["result"]["remote_status"] == 11
    assert "server process died while running" in execution["message"] + log
    assert "cannot poll the run on site remote" in log
    assert "site remote answers again after" in log
    remote = pair.remote_execution(execution["result"]["session_id"])
    assert remote["status"] == "error"


def test_ids_are_uuids() -> None:
    for task_id in (OK_ID, OK2_ID, FAIL_ID, SLOW_ID, OFF_ID, UNTAGGED_ID, MISSING_ID):
        assert str(uuid.UUID(task_id)) == task_id
