"""Checks on how a run ended, on a real server: a `fail` check turns a run that exited 0 into
`finished_fail` with the reason, a `warn` check leaves a warning on a success."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import ServerProcess
from tests.integration.test_api_events import Stream
from tests.integration.test_api_metrics import samples
from tests.support import (
    PRELUDE,
    QUICK_CODE,
    SLOW_CODE,
    abort,
    create_task,
    error_json,
    get_execution,
    py_task,
    start_one,
    unique,
    wait_execution,
)

ROWS_CODE = PRELUDE + "result({'rows': int(P.get('rows', 0))})\n"
ROWS_PARAM = {"name": "rows", "type": "int", "default": 0}


def checked_task(
    client: httpx.Client, checks: dict[str, Any] | None, code: str = QUICK_CODE
) -> str:
    label = unique("checked")
    fields: dict[str, Any] = {"label": label, "params": [ROWS_PARAM]}
    if checks is not None:
        fields["checks"] = checks
    create_task(client, py_task(f"Checked {label}", code, **fields))
    return label


def test_a_fail_check_turns_a_zero_exit_into_finished_fail(client: httpx.Client) -> None:
    label = checked_task(client, {"min_duration": 60})
    execution = wait_execution(client, start_one(client, f"label:{label}"))
    assert execution["status"] == "finished_fail", execution
    assert execution["exit_code"] == 0
    assert "expected at least 60 s" in execution["message"], execution
    assert execution["message"].startswith("check failed: ran ")
    assert execution["attempts"][-1]["status"] == "finished_fail"
    assert execution["warnings"] == []


def test_a_result_check_reads_the_result(client: httpx.Client) -> None:
    label = checked_task(client, {"result": [{"path": "rows", "op": ">=", "value": 1}]}, ROWS_CODE)
    failed = wait_execution(client, start_one(client, f"label:{label}", {"rows": 0}))
    assert failed["status"] == "finished_fail", failed
    assert failed["message"] == "check failed: result: rows is 0, expected ≥ 1"
    passed = wait_execution(client, start_one(client, f"label:{label}", {"rows": 5}))
    assert passed["status"] == "finished_success", passed


def test_a_warn_check_keeps_the_success_and_records_a_warning(client: httpx.Client) -> None:
    label = checked_task(client, {"min_duration": {"seconds": 60, "on_violation": "warn"}})
    execution = wait_execution(client, start_one(client, f"label:{label}"))
    assert execution["status"] == "finished_success", execution
    (warning,) = execution["warnings"]
    assert warning["check"] == "min_duration"
    assert warning["on_violation"] == "warn"
    assert "expected at least 60 s" in warning["reason"]


def test_a_start_may_bring_its_own_checks(client: httpx.Client) -> None:
    label = checked_task(client, None)
    plain = wait_execution(client, start_one(client, f"label:{label}"))
    assert plain["status"] == "finished_success"
    checked = wait_execution(
        client, start_one(client, f"label:{label}", checks={"max_duration": 0.001})
    )
    assert checked["status"] == "finished_fail", checked
    assert "expected at most 0.001 s" in checked["message"], checked
    # The task itself is unchanged.
    task = client.get(f"/api/v1/tasks/{label}").json()
    assert task["checks"] is None


@pytest.mark.parametrize(
    ("checks", "field"),
    [
        ({"result": [{"path": "rows[", "op": ">=", "value": 1}]}, "body.checks.result.0.path"),
        ({"result": [{"path": "rows", "op": "about", "value": 1}]}, "body.checks.result.0.op"),
        ({"min_duration": 60, "max_duration": 30}, "body.checks.max_duration"),
        (
            {"deadline": {"cron": "0 7 * * 1-5", "timezone": "Europe/Nowhere"}},
            "body.checks.deadline.timezone",
        ),
    ],
    ids=["bad-path", "unknown-op", "min-above-max", "bad-zone"],
)
def test_bad_checks_are_refused_naming_the_field(
    client: httpx.Client, checks: dict[str, Any], field: str
) -> None:
    task = py_task(unique("bad"), QUICK_CODE, checks=checks)
    body = error_json(client.post("/api/v1/tasks", json=task), 422, "invalid")
    assert body["field"] == field, body
    start = {"selectors": ["label:quick"], "checks": checks}
    body = error_json(client.post("/api/v1/start", json=start), 422, "invalid")
    assert body["field"] == field, body


# --- what a check says while a run goes on, and after ------------------------------------


def metric(client: httpx.Client, name: str, **labels: str) -> float:
    wanted = tuple(sorted(labels.items()))
    return samples(client).get((name, wanted), 0.0)


def test_a_warning_is_in_the_events_and_the_metrics(
    server: ServerProcess, client: httpx.Client
) -> None:
    label = checked_task(client, {"min_duration": {"seconds": 60, "on_violation": "warn"}})
    stream = Stream(server, task=[label], kind=["check_violated"])
    try:
        execution_id = start_one(client, f"label:{label}")
        news = stream.next()
    finally:
        stream.close()
    assert news.type == "check_violated"
    assert news.data["execution_id"] == execution_id
    assert news.data["status"] == "finished_success"
    assert news.data["check"]["check"] == "min_duration"
    assert news.data["check"]["on_violation"] == "warn"
    assert "expected at least 60 s" in news.data["message"]
    assert wait_execution(client, execution_id)["warnings"]
    counted = metric(
        client,
        "taskgate_check_violations_total",
        task=label,
        check="min_duration",
        on_violation="warn",
    )
    assert counted == 1


def test_passing_max_duration_is_said_while_the_run_goes_on(
    server: ServerProcess, client: httpx.Client
) -> None:
    label = checked_task(
        client, {"max_duration": {"seconds": 1, "on_violation": "warn"}}, SLOW_CODE
    )
    stream = Stream(server, task=[label], kind=["max_duration_passed"])
    execution_id = start_one(client, f"label:{label}")
    try:
        news = stream.next()
        assert news.type == "max_duration_passed"
        assert news.data["execution_id"] == execution_id
        assert news.data["status"] == "started"
        assert news.data["message"].startswith("running for ")
        assert news.data["message"].endswith("expected at most 1 s")
        # Said before the end: the run is still going, and carries the note.
        running = get_execution(client, execution_id)
        assert running["status"] == "started", running
        (note,) = running["warnings"]
        assert note["check"] == "max_duration" and note["while_running"] is True
        assert metric(client, "taskgate_max_duration_passed_total", task=label) == 1
    finally:
        stream.close()
        abort(client, execution_id)
    assert wait_execution(client, execution_id)["status"] == "aborted"
