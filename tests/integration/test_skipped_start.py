"""A start that the task's overlap policy skips, as each door's wire contract counts it.

One rule decides whether a start succeeded (taskgate.domain.started); the doors differ only in
how they count a skipped start, and that difference is visible here: Butler lists the task as
started, QRS answers the empty session id, the native API counts nothing started.
"""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import StartServer
from tests.qrs.conftest import QrsClient
from tests.support import abort, ok_json, py_task, wait_execution, wait_status

EMPTY_GUID = "00000000-0000-0000-0000-000000000000"
RUNS_UNTIL_STOPPED = "import time; print('running', flush=True); time.sleep(600)"


def test_each_door_counts_a_skipped_start_as_its_contract_says(
    start_server: StartServer,
) -> None:
    task_id = str(uuid.uuid4())
    busy = py_task(
        "One at a time",
        RUNS_UNTIL_STOPPED,
        id=task_id,
        concurrency={"max_running": 1, "overlap": "skip"},
    )
    server = start_server(
        {"butler": {"enabled": True, "allow_from": ["127.0.0.0/8"]}, "qrs": {"enabled": True}},
        tasks=[busy],
    )
    with server.client() as client:
        first = ok_json(client.post(f"/api/v1/tasks/{task_id}/start", json={}))
        running = first["executions"][0]["id"]
        wait_status(client, running, "started")

        native = ok_json(client.post(f"/api/v1/tasks/{task_id}/start", json={}))
        assert native["started"] == 0
        assert [e["status"] for e in native["executions"]] == ["skipped"]

        butler = httpx.put(f"{server.url}/v4/reloadtask/{task_id}/start")
        assert butler.status_code == 200, butler.text
        assert butler.json()["tasksId"]["started"] == [
            {"taskId": task_id, "taskName": "One at a time"}
        ]

        qrs = QrsClient(client)
        session = qrs.post(f"/task/{task_id}/start/synchronous")
        assert session.status_code == 201, session.text
        assert session.json() == {"value": EMPTY_GUID}

        abort(client, running)
        assert wait_execution(client, running)["status"] == "aborted"
