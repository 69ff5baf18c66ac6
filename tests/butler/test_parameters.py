"""Butler's parameter hand-over, end to end: a start call writes a key-value item, and the
command it starts reads it with `taskgate kv get` (its TASKGATE_TOKEN is its only credential)."""

from __future__ import annotations

import httpx

from tests.butler.conftest import demo_butler, demo_tasks
from tests.conftest import StartServer
from tests.support import (
    PRELUDE,
    list_executions,
    py_task,
    read_log,
    start_one,
    unique,
    wait_execution,
    wait_until,
)

DEMO_APP1 = "e3b27f50-b1c0-4879-88fc-c7cdd9c1cf3e"

READER_ID = "5a1c0f3e-2b4d-4e6f-8a9b-0c1d2e3f4a5b"
READER_CODE = (
    PRELUDE
    + """\
import subprocess
done = subprocess.run([sys.executable, '-m', 'taskgate', 'kv', 'get', 'erp', 'period'],
                      capture_output=True, text=True, timeout=60)
result({'period': done.stdout, 'exit': done.returncode, 'stderr': done.stderr})
"""
)


def test_the_started_command_reads_the_value_the_start_call_wrote(
    start_server: StartServer,
) -> None:
    task = py_task("Reload with a period", READER_CODE, id=READER_ID)
    server = start_server({"butler": demo_butler()}, tasks=[task])
    period = unique("2026-11")
    body = [
        {
            "type": "keyvaluestore",
            "payload": {"namespace": "erp", "key": "period", "value": period, "ttl": "60000"},
        }
    ]
    answer = httpx.put(f"{server.url}/v4/reloadtask/{READER_ID}/start", json=body)
    assert answer.json()["tasksId"]["started"] == [
        {"taskId": READER_ID, "taskName": "Reload with a period"}
    ]
    client = server.client()
    [execution] = wait_until(lambda: list_executions(client, origin="butler"), what="execution")
    done = wait_execution(client, execution["id"])
    assert done["status"] == "finished_success", done
    assert done["result"] == {"period": period, "exit": 0, "stderr": ""}


def test_the_demo_job_reads_the_region_the_readme_step_stores(
    start_server: StartServer,
) -> None:
    # The README's Butler step, on the demo's own tasks and script: the parameter it stores
    # is the region the run works with (its log and result say so).
    server = start_server({"butler": demo_butler()}, tasks=demo_tasks())
    body = [
        {
            "type": "keyvaluestore",
            "payload": {"namespace": "params", "key": "region", "value": "US"},
        }
    ]
    answer = httpx.put(f"{server.url}/v4/reloadtask/{DEMO_APP1}/start", json=body)
    assert answer.status_code == 200, answer.text
    client = server.client()
    [execution] = wait_until(lambda: list_executions(client, origin="butler"), what="execution")
    done = wait_execution(client, execution["id"])
    assert done["status"] == "finished_success", done
    assert done["result"]["region"] == "US", done
    assert "progress 100% (US)" in read_log(client, execution["id"])
    # A region given as a parameter still wins over the stored one.
    given = start_one(client, f"id:{DEMO_APP1}", {"region": "LV", "seconds": 0})
    assert wait_execution(client, given)["result"]["region"] == "LV"
