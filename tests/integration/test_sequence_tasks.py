"""TASK steps: a sequence starts a taskgate task and waits for it without holding a slot."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ServerProcess, StartServer
from tests.integration.test_api_events import Stream
from tests.sequence_support import ApiServer, serve_api
from tests.support import (
    STANDARD_TASKS,
    abort,
    create_task,
    get_execution,
    read_log,
    start_one,
    unique,
    wait_execution,
    wait_until,
)


@pytest.fixture
def api() -> Iterator[ApiServer]:
    yield from serve_api()


@pytest.fixture
def one_slot(start_server: StartServer) -> ServerProcess:
    # One slot: a sequence that held it while waiting would wait for ever.
    return start_server(
        {"egress": {"allowed_hosts": ["127.0.0.1"]}, "executor": {"slots": 1}},
        tasks=STANDARD_TASKS,
    )


def _sequence(requests: list[dict[str, Any]], **task: Any) -> dict[str, Any]:
    label = unique("seq")
    return {
        "name": label,
        "label": label,
        "action": {"kind": "sequence", "requests": requests},
        **task,
    }


def test_a_task_step_runs_the_task_without_a_slot_and_goes_on(
    one_slot: ServerProcess, api: ApiServer
) -> None:
    with one_slot.client() as client:
        task = create_task(
            client,
            _sequence(
                [
                    {"method": "GET", "api": f"{api.base}/items/7", "save_to": "first"},
                    {
                        "method": "TASK",
                        "api": "quick",
                        "body": {"region": "{{$.name}}"},
                        "save_to": "child_{{$.status}}",
                    },
                    {
                        "method": "GET",
                        "api": api.base
                        + "/echo?r={{#.child_finished_success.result.params.region}}",
                        "save_to": "after",
                    },
                ]
            ),
        )
        execution = wait_execution(client, start_one(client, task["label"]))
        log = read_log(client, execution["id"])
        assert execution["status"] == "finished_success", (execution["message"], log)
        result = execution["result"]
        assert result["first"] == {"id": 7, "name": "item 7"}
        child = result["child_finished_success"]
        assert child["result"]["params"]["region"] == "item 7"
        assert get_execution(client, child["execution_id"])["status"] == "finished_success"
        assert result["after"]["path"] == "/echo?r=item%207"


def test_a_failed_task_fails_the_step(one_slot: ServerProcess) -> None:
    with one_slot.client() as client:
        task = create_task(
            client,
            _sequence([{"method": "TASK", "api": "label:fail", "save_to": "child"}]),
        )
        execution = wait_execution(client, start_one(client, task["label"]))
        assert execution["status"] == "finished_fail", execution
        assert execution["result"]["child"]["status"] == "finished_fail"


def test_a_task_that_does_not_exist_fails_the_step(one_slot: ServerProcess) -> None:
    with one_slot.client() as client:
        task = create_task(
            client,
            _sequence(
                [
                    {
                        "method": "TASK",
                        "api": "label:no-such-task",
                        "save_to": "c",
                        "ignore_error": True,
                    }
                ]
            ),
        )
        execution = wait_execution(client, start_one(client, task["label"]))
        assert execution["status"] == "finished_success", execution
        assert execution["result"]["c"]["status"] == "not_started"


def test_a_sequence_that_starts_itself_is_refused_at_save(one_slot: ServerProcess) -> None:
    label = unique("self")
    with one_slot.client() as client:
        body = _sequence([{"method": "TASK", "api": f"label:{label}"}])
        body["label"] = label
        answer = client.post("/api/v1/tasks", json=body)
        assert answer.status_code == 422, answer.text
        assert "may not start itself" in answer.text
        inside = _sequence(
            [
                {
                    "method": "GET",
                    "api": "http://127.0.0.1/x",
                    "__def_loop__": {"by": "$.a", "requests": [{"method": "TASK", "api": "quick"}]},
                }
            ]
        )
        assert client.post("/api/v1/tasks", json=inside).status_code == 422


def test_sequences_that_would_start_each_other_are_refused_at_save(
    one_slot: ServerProcess,
) -> None:
    first, second = unique("ping"), unique("pong")
    with one_slot.client() as client:
        # The task a TASK step names need not exist yet: the step fails at run time if not.
        body = _sequence([{"method": "TASK", "api": f"label:{second}"}])
        body["label"] = first
        create_task(client, body)
        body = _sequence([{"method": "GET", "api": "http://127.0.0.1/x"}])
        body["label"] = second
        body["action"]["requests"].append({"method": "TASK", "api": f"label:{first}"})
        answer = client.post("/api/v1/tasks", json=body)
        assert answer.status_code == 422, answer.text
        error = answer.json()
        assert error["field"] == "action.requests.1.api"
        assert "cycle" in error["message"] and first in error["message"]
        # Through a workflow as well: the workflow runs the first, which starts the workflow.
        flow = {
            "name": second,
            "label": second,
            "action": {"kind": "workflow", "phases": [{"members": [{"task": f"label:{first}"}]}]},
        }
        assert client.post("/api/v1/tasks", json=flow).status_code == 422


def test_aborting_a_waiting_sequence_ends_it_and_its_task(
    one_slot: ServerProcess, tmp_path: Path
) -> None:
    with one_slot.client() as client:
        task = create_task(
            client,
            _sequence([{"method": "TASK", "api": "slow", "body": {"dir": str(tmp_path)}}]),
        )
        execution_id = start_one(client, task["label"])
        pid_files = wait_until(lambda: list(tmp_path.glob("slow.*.pid")), what="the child runs")
        child_id = pid_files[0].name.split(".")[1]
        stream = Stream(one_slot, execution=[execution_id], status=["aborted"])
        try:
            abort(client, execution_id)
            said = stream.next().data
        finally:
            stream.close()
        ended = wait_execution(client, execution_id)
        assert ended["status"] == "aborted", ended
        # Its event says what the execution says, as every other end's does.
        started = datetime.fromisoformat(ended["started_at"])
        assert datetime.fromisoformat(said["started_at"]) == started
        assert said["duration_ms"] is not None
        assert (said["parent_id"], said["phase"]) == (ended["parent_id"], ended["phase"])
        # the task it waited for is aborted with it
        assert wait_execution(client, child_id)["status"] == "aborted"
