"""Butler's parameter hand-over, end to end: a start call writes a key-value item, and the
command it starts reads it with `taskgate kv get` (its TASKGATE_TOKEN is its only credential)."""

from __future__ import annotations

import httpx

from tests.butler.conftest import demo_butler
from tests.conftest import StartServer
from tests.support import PRELUDE, list_executions, py_task, unique, wait_execution, wait_until

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
