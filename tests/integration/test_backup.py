"""`taskgate db backup`: a copy of a running server's SQLite database that another server
starts on with everything in it; on PostgreSQL the command names pg_dump instead."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

from tests.conftest import Backend, StartServer
from tests.support import (
    STANDARD_TASKS,
    abort,
    get_execution,
    list_executions,
    start_one,
    wait_execution,
    wait_status,
)


def test_backup_of_a_running_server_serves_again(
    backend: Backend, start_server: StartServer
) -> None:
    server = start_server(tasks=STANDARD_TASKS)
    client = server.client()
    if backend.name == "postgres":
        output = server.cli("db", "backup", str(server.workdir / "copy.db"), check=False)
        assert "pg_dump" in output
        assert not (server.workdir / "copy.db").exists()
        return
    done = [start_one(client, "label:quick", {"region": f"R{i}"}) for i in range(3)]
    for execution_id in done:
        wait_execution(client, execution_id)
    running = start_one(client, "label:slow")
    wait_status(client, running, "started")
    target = server.workdir / "backups" / "taskgate-copy.db"
    target.parent.mkdir()

    output = server.cli("db", "backup", str(target))

    assert "backed up" in output
    assert target.stat().st_mode & 0o077 == 0  # it holds parameters, logs and secrets
    with sqlite3.connect(target) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    # A second backup to the same file needs --force.
    refused = server.cli("db", "backup", str(target), check=False)
    assert "--force" in refused
    server.cli("db", "backup", str(target), "--force")
    abort(client, running)
    wait_execution(client, running)

    restored = start_server({"database_url": f"sqlite:///{target}"}, tasks=STANDARD_TASKS)
    again = restored.client()
    for execution_id in done:
        assert get_execution(again, execution_id)["status"] == "finished_success"
    assert {e["params"]["region"] for e in list_executions(again, task="quick")} == {
        "R0",
        "R1",
        "R2",
    }
    # It runs new work, too.
    wait_execution(again, start_one(again, "label:quick"))


def test_backup_refuses_to_copy_onto_the_live_database(start_server: StartServer) -> None:
    server = start_server(start=False)
    config = str(server.config_path)
    database = server.workdir / "data" / "taskgate.db"
    done = subprocess.run(
        [sys.executable, "-m", "taskgate", "db", "backup", str(database), "--force", "-c", config],
        capture_output=True,
        text=True,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "live database" in output or "pg_dump" in output, output
