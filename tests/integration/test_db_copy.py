"""`taskgate db copy`: an embedded SQLite install moved to PostgreSQL with its history."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Backend, StartServer, postgres_backend

ECHO = {
    "name": "echo",
    "label": "echo",
    "concurrency": {"overlap": "allow", "max_running": 10},
    "action": {
        "kind": "command",
        "argv": [
            "sh",
            "-c",
            'echo "run $TASKGATE_EXECUTION_ID"; echo \'{"ok": true}\' > "$TASKGATE_RESULT_FILE"',
        ],
    },
}


@pytest.fixture(scope="module")
def backend(_backends: dict[str, Backend]) -> Backend:
    """The source is SQLite; the destination a PostgreSQL database made here."""
    return _backends.setdefault("sqlite", Backend("sqlite"))


@pytest.fixture
def postgres_database(_backends: dict[str, Backend], tmp_path: Path) -> Iterator[str]:
    postgres = postgres_backend(_backends)
    database = postgres.new_database(tmp_path)
    assert database is not None
    yield database
    postgres.release(database)


def test_copy_moves_tasks_and_history_to_postgresql(
    start_server: StartServer, postgres_database: str
) -> None:
    source = start_server(tasks=[ECHO])
    with source.client() as client:
        ids = []
        for _ in range(3):
            answer = client.post("/api/v1/tasks/echo/start", json={"wait": 30})
            assert answer.status_code == 200, answer.text
            ids.append(answer.json()["executions"][0]["id"])
        before = {i: client.get(f"/api/v1/executions/{i}").json() for i in ids}
    source.stop()

    said = source.cli("db", "copy", postgres_database)
    assert "copied into" in said and "executions" in said

    moved = start_server({"database_url": postgres_database}, tasks=[ECHO])
    with moved.client() as client:
        for execution_id, execution in before.items():
            after = client.get(f"/api/v1/executions/{execution_id}").json()
            assert after["status"] == execution["status"] == "finished_success"
            assert after["result"] == {"ok": True}
            assert after["attempts"] == execution["attempts"]
            log = client.get(f"/api/v1/executions/{execution_id}/log").json()
            assert log["data"] == f"run {execution_id}\n"
        # Life goes on in the new database: serial ids continue after the copied rows.
        answer = client.post("/api/v1/tasks/echo/start", json={"wait": 30})
        assert answer.json()["executions"][0]["status"] == "finished_success"
    moved.stop()

    refused = source.cli("db", "copy", postgres_database, check=False)
    assert "not empty" in refused
