"""Retention on a running server: the housekeeping loop deletes ended executions past their
limits (with their logs) and never a running one; `taskgate db purge` counts and deletes the
same on the database directly, while the server runs."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.conftest import StartServer
from tests.support import (
    STANDARD_TASKS,
    abort,
    list_executions,
    read_log,
    start_one,
    wait_execution,
    wait_status,
    wait_until,
)


def cli_json(output: str) -> Any:
    """The JSON a command printed (its stdout comes first, the local-mode note after it)."""
    return json.JSONDecoder().raw_decode(output)[0]


def task_executions(client: httpx.Client, label: str) -> list[dict[str, Any]]:
    return list_executions(client, task=label)


def test_housekeeping_keeps_the_newest_ended_executions_per_task(
    start_server: StartServer,
) -> None:
    server = start_server(
        {"retention": {"every_seconds": 0.2, "executions": {"max_count": 2, "max_age_days": None}}},
        tasks=STANDARD_TASKS,
    )
    client = server.client()
    running = start_one(client, "label:slow")
    wait_status(client, running, "started")
    ended = []
    for _ in range(4):
        execution_id = start_one(client, "label:quick")
        wait_execution(client, execution_id)
        ended.append(execution_id)

    wait_until(
        lambda: len(task_executions(client, "quick")) == 2,
        timeout=30,
        what="the quick task keeps its newest two executions",
    )
    assert {e["id"] for e in task_executions(client, "quick")} == set(ended[-2:])
    for gone in ended[:2]:
        assert client.get(f"/api/v1/executions/{gone}").status_code == 404
        assert client.get(f"/api/v1/executions/{gone}/log").status_code == 404
    assert "TASKGATE_EXECUTION_ID" in read_log(client, ended[-1])
    # The running execution is not ended: no limit touches it.
    assert [e["status"] for e in task_executions(client, "slow")] == ["started"]
    abort(client, running)
    wait_execution(client, running)


def test_db_purge_dry_run_then_purge_while_the_server_runs(start_server: StartServer) -> None:
    # The loop runs at the start only (every hour): the CLI does the purging here.
    server = start_server(
        {
            "retention": {
                "every_seconds": 3600,
                "executions": {"max_age_days": None, "max_count": 1},
            }
        },
        tasks=STANDARD_TASKS,
    )
    client = server.client()
    running = start_one(client, "label:slow")
    wait_status(client, running, "started")
    ended = [start_one(client, "label:quick") for _ in range(3)]
    for execution_id in ended:
        wait_execution(client, execution_id)

    preview = cli_json(server.cli("db", "purge", "--dry-run", "--json"))
    assert preview["dry_run"] is True
    assert preview["would_delete"]["executions"] == 2
    assert len(task_executions(client, "quick")) == 3  # a dry run deletes nothing

    done = cli_json(server.cli("db", "purge", "--json"))
    assert done["deleted"]["executions"] == 2
    assert len(task_executions(client, "quick")) == 1
    assert [e["status"] for e in task_executions(client, "slow")] == ["started"]
    again = cli_json(server.cli("db", "purge", "--dry-run", "--json"))
    assert again["would_delete"]["executions"] == 0
    abort(client, running)
    wait_execution(client, running)
