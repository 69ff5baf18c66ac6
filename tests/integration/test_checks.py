"""Checks on how a run ended, on a real server: a `fail` check turns a run that exited 0 into
`finished_fail` with the reason, a `warn` check leaves a warning on a success."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from taskgate.client import TaskgateClient
from tests.conftest import Backend, ServerProcess, StartServer
from tests.integration.test_api_events import Stream
from tests.integration.test_api_metrics import samples
from tests.integration.test_cli import describe, run_cli
from tests.support import (
    FAIL_CODE,
    PRELUDE,
    QUICK_CODE,
    SLOW_CODE,
    abort,
    create_task,
    error_json,
    get_execution,
    ok_json,
    py_task,
    start_one,
    unique,
    wait_execution,
    wait_status,
    wait_until,
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


def test_a_run_failed_by_a_check_is_retried_like_any_failure(client: httpx.Client) -> None:
    label = unique("retried")
    task = py_task(
        f"Retried {label}",
        QUICK_CODE,
        label=label,
        checks={"min_duration": 60},
        retries={"count": 1, "delay": 0},
    )
    create_task(client, task)
    execution = wait_execution(client, start_one(client, f"label:{label}"))
    assert execution["status"] == "finished_fail", execution
    assert [a["status"] for a in execution["attempts"]] == ["finished_fail", "finished_fail"]
    assert all("expected at least 60 s" in a["message"] for a in execution["attempts"])


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


def test_a_start_may_bring_its_own_checks(server: ServerProcess, client: httpx.Client) -> None:
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
    # The Python client passes them on too.
    with TaskgateClient(server.url) as python:
        started = python.start([f"label:{label}"], checks={"min_duration": 60})
    failed = wait_execution(client, started["executions"][0]["id"])
    assert failed["status"] == "finished_fail", failed
    assert "expected at least 60 s" in failed["message"], failed


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
        passed = metric(
            client, "taskgate_max_duration_passed_total", task=label, check="max_duration"
        )
        assert passed == 1
    finally:
        stream.close()
        abort(client, execution_id)
    assert wait_execution(client, execution_id)["status"] == "aborted"


def test_a_workflow_members_passed_limit_names_its_workflow(
    server: ServerProcess, client: httpx.Client
) -> None:
    label = checked_task(
        client, {"max_duration": {"seconds": 1, "on_violation": "warn"}}, SLOW_CODE
    )
    flow = unique("flow")
    create_task(
        client,
        {
            "name": f"Flow {flow}",
            "label": flow,
            "action": {"kind": "workflow", "phases": [[label]]},
        },
    )
    stream = Stream(server, task=[label], kind=["max_duration_passed"])
    flow_id = start_one(client, f"label:{flow}")
    try:
        news = stream.next()
        member = get_execution(client, news.data["execution_id"])
        # A workflow's own stream (`workflow=`) and the dashboard's tree place it by these.
        assert member["parent_id"] == flow_id
        assert news.data["parent_id"] == flow_id
        assert news.data["phase"] == member["phase"]
    finally:
        stream.close()
        abort(client, flow_id)
    assert wait_execution(client, flow_id)["status"] == "aborted"


# --- deadlines ----------------------------------------------------------------------------


def deadline_at(seconds_ahead: float, zone: str = "Europe/Berlin") -> dict[str, Any]:
    """A daily deadline (6-field cron, seconds first) that comes `seconds_ahead` from now."""
    at = (datetime.now(UTC) + timedelta(seconds=seconds_ahead)).astimezone(ZoneInfo(zone))
    return {"cron": f"{at.second} {at.minute} {at.hour} * * *", "timezone": zone}


def put_checks(client: httpx.Client, label: str, checks: dict[str, Any]) -> None:
    task = ok_json(client.get(f"/api/v1/tasks/{label}"))
    spec = {k: v for k, v in task.items() if k not in ("id", "source", "created_at", "updated_at")}
    ok_json(client.put(f"/api/v1/tasks/{task['id']}", json={**spec, "checks": checks}))


def test_a_missed_deadline_says_whether_late_failed_or_never_started(
    server: ServerProcess, client: httpx.Client, tmp_path: Path
) -> None:
    labels = {
        why: checked_task(client, None, code)
        for why, code in (
            ("never_started", QUICK_CODE),
            ("failed", FAIL_CODE),
            ("late", SLOW_CODE),
            ("met", QUICK_CODE),
        )
    }
    failed_id = start_one(client, f"label:{labels['failed']}")
    assert wait_execution(client, failed_id)["status"] == "finished_fail"
    met_id = start_one(client, f"label:{labels['met']}")
    assert wait_execution(client, met_id)["status"] == "finished_success"
    late_id = start_one(client, f"label:{labels['late']}")
    wait_status(client, late_id, "started")
    stream = Stream(server, kind=["deadline_missed"])
    try:
        deadline = deadline_at(2)
        for label in labels.values():
            put_checks(client, label, {"deadline": deadline})
        news: dict[str, Any] = {}
        while len(news) < 3:
            event = stream.next()
            if event.data["label"] in labels.values():
                news[event.data["check"]["why"]] = event
    finally:
        stream.close()
        abort(client, late_id)
    assert news["never_started"].data["label"] == labels["never_started"]
    assert news["never_started"].data["status"] == "never_started"
    assert news["never_started"].data["execution_id"] == ""
    assert "never started since" in news["never_started"].data["message"]
    assert news["failed"].data["execution_id"] == failed_id
    assert news["failed"].data["status"] == "finished_fail"
    assert "its last run ended finished_fail" in news["failed"].data["message"]
    assert news["late"].data["execution_id"] == late_id
    assert news["late"].data["status"] == "started"
    assert "late, running since" in news["late"].data["message"]
    for event in news.values():
        assert event.type == "deadline_missed"
        assert event.data["message"].startswith("not succeeded by ")
        assert event.data["message"].split(": ")[0].endswith("Europe/Berlin")
    met = ok_json(client.get(f"/api/v1/tasks/{labels['met']}/checks"))["deadline"]
    assert met["last_outcome"] == "met", met
    missed = ok_json(client.get(f"/api/v1/tasks/{labels['failed']}/checks"))["deadline"]
    assert missed["last_outcome"] == "missed" and missed["next_due"] > missed["last_due"]
    assert metric(client, "taskgate_deadlines_missed_total", task=labels["failed"]) == 1
    assert metric(client, "taskgate_deadlines_missed_total", task=labels["met"]) == 0


def test_a_deadline_is_said_once_by_servers_sharing_a_database(
    start_server: StartServer, backend: Backend
) -> None:
    if backend.name != "postgres":
        pytest.skip("several server processes share a PostgreSQL database")
    first = start_server({"node_name": "node-1"})
    second = start_server({"node_name": "node-2", "database_url": first.config["database_url"]})
    streams = [Stream(first, kind=["deadline_missed"]), Stream(second, kind=["deadline_missed"])]
    try:
        with first.client() as client:
            label = checked_task(client, {"deadline": deadline_at(2, "UTC")})
            saying = wait_until(
                lambda: next((s for s in streams if not s.nothing_more()), None),
                timeout=30,
                what="a deadline_missed event",
            )
            event = saying.next()
            assert event.data["label"] == label
            with first.client() as one, second.client() as two:
                counts = [
                    metric(c, "taskgate_deadlines_missed_total", task=label) for c in (one, two)
                ]
            assert sorted(counts) == [0, 1]
            view = ok_json(client.get(f"/api/v1/tasks/{label}/checks"))["deadline"]
            assert view["last_outcome"] == "missed"
    finally:
        for stream in streams:
            stream.close()


@pytest.mark.parametrize(
    ("deadline", "field"),
    [
        ({"cron": "0 7 * * mon-fry", "timezone": "Europe/Berlin"}, "checks.deadline.cron"),
        ({"cron": "0 7 * *", "timezone": "Europe/Berlin"}, "checks.deadline.cron"),
    ],
    ids=["bad-field", "too-few-fields"],
)
def test_a_bad_deadline_cron_is_refused_naming_the_field(
    client: httpx.Client, deadline: dict[str, Any], field: str
) -> None:
    task = py_task(unique("bad"), QUICK_CODE, checks={"deadline": deadline})
    body = error_json(client.post("/api/v1/tasks", json=task), 422, "invalid")
    assert body["field"] == field, body


def test_a_start_cannot_bring_a_deadline(client: httpx.Client) -> None:
    start = {"selectors": ["label:quick"], "checks": {"deadline": deadline_at(60)}}
    body = error_json(client.post("/api/v1/start", json=start), 422, "invalid")
    assert body["field"] == "checks.deadline", body


# --- learned bounds -----------------------------------------------------------------------

NAP_CODE = PRELUDE + "time.sleep(float(P.get('nap', 0)))\n"


def test_learned_bounds_come_after_enough_runs_and_judge_the_next(
    server: ServerProcess, client: httpx.Client
) -> None:
    label = unique("learner")
    learn = {"min_runs": 3, "k": 3, "floor_seconds": 1, "on_violation": "fail"}
    create_task(
        client,
        py_task(
            f"Learner {label}",
            NAP_CODE,
            label=label,
            params=[{"name": "nap", "type": "float", "default": 0}],
            checks={"expected_duration": learn},
        ),
    )
    view = ok_json(client.get(f"/api/v1/tasks/{label}/checks"))["expected_duration"]
    assert view == {
        "runs": 0,
        "min_runs": 3,
        "learning": True,
        "median_seconds": None,
        "mad_seconds": None,
        "low_seconds": None,
        "high_seconds": None,
    }
    for count in (1, 2, 3):
        execution = wait_execution(client, start_one(client, f"label:{label}"))
        # While it learns, nothing is judged.
        assert execution["status"] == "finished_success", execution
        view = ok_json(client.get(f"/api/v1/tasks/{label}/checks"))["expected_duration"]
        assert view["runs"] == count
    assert view["learning"] is False
    assert view["low_seconds"] <= view["median_seconds"] <= view["high_seconds"]
    # The floor (1 s; the numbers are rounded to milliseconds).
    assert view["high_seconds"] - view["median_seconds"] >= 0.999
    # A run slower than the band: said while it runs, failed when it ends.
    stream = Stream(server, task=[label], kind=["max_duration_passed"])
    try:
        slow_id = start_one(client, f"label:{label}", {"nap": view["high_seconds"] + 2})
        news = stream.next()
    finally:
        stream.close()
    assert news.data["execution_id"] == slow_id
    assert news.data["status"] == "started"
    assert news.data["check"]["check"] == "expected_duration"
    assert news.data["message"].startswith("running for ")
    assert news.data["message"].endswith("(learned from 3 runs)")
    slow = wait_execution(client, slow_id)
    assert slow["status"] == "finished_fail", slow
    assert "(learned from 3 runs)" in slow["message"], slow
    # A run that failed its check teaches nothing; another success does.
    wait_execution(client, start_one(client, f"label:{label}"))
    view = ok_json(client.get(f"/api/v1/tasks/{label}/checks"))["expected_duration"]
    assert view["runs"] == 4
    shown = run_cli(server, "tasks", "checks", label)
    assert shown.returncode == 0, describe(shown)
    assert "Expected duration (learned)" in shown.stdout, describe(shown)
    assert "4 successful run(s)" in shown.stdout, describe(shown)


def test_checks_come_from_the_config_file(start_server: StartServer) -> None:
    label = unique("configured")
    server = start_server(
        tasks=[
            py_task(
                f"Configured {label}",
                ROWS_CODE,
                label=label,
                params=[ROWS_PARAM],
                checks={
                    "result": [{"path": "rows", "op": "gt", "value": 0, "name": "has rows"}],
                    "deadline": {"cron": "0 7 * * 1-5", "timezone": "Europe/Berlin"},
                },
            )
        ]
    )
    with server.client() as client:
        failed = wait_execution(client, start_one(client, f"label:{label}"))
        assert failed["status"] == "finished_fail", failed
        assert failed["message"] == "check failed: result: rows is 0, expected > 0"
        view = ok_json(client.get(f"/api/v1/tasks/{label}/checks"))
        assert view["checks"]["result"][0]["name"] == "has rows"
        next_due = datetime.fromisoformat(view["deadline"]["next_due"])
        local = next_due.astimezone(ZoneInfo("Europe/Berlin"))
        assert (local.hour, local.minute, local.weekday() < 5) == (7, 0, True)
