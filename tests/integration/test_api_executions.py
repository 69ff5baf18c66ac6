"""Executions: listing with filters and cursors, detail, logs, abort."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.support import (
    CHATTY_CODE,
    QUICK_CODE,
    TERMINAL,
    abort,
    create_task,
    error_json,
    get_execution,
    list_executions,
    ok_json,
    py_task,
    read_log,
    start_one,
    unique,
    wait_execution,
    wait_status,
)

# Succeeds, or fails with exit code 1 when given fail=true.
MAYBE_FAIL_CODE = QUICK_CODE + "sys.exit(1 if P.get('fail') else 0)\n"
SLEEP_CODE = "import time\ntime.sleep(3600)\n"


def own_task(client: httpx.Client, code: str = MAYBE_FAIL_CODE, **fields: Any) -> dict[str, Any]:
    label = unique("ex")
    fields.setdefault("concurrency", {"max_running": 50, "overlap": "allow"})
    fields.setdefault("params", [{"name": "fail", "type": "bool", "default": False}])
    return create_task(client, py_task(f"Executions {label}", code, label=label, **fields))


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in items]


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_execution_detail(client: httpx.Client) -> None:
    task = own_task(client)
    execution_id = start_one(client, f"label:{task['label']}", {"fail": "false"})
    waited = wait_execution(client, execution_id)
    execution = get_execution(client, execution_id)
    for name in ("id", "task_id", "status", "attempts", "attempt_count", "exit_code"):
        assert execution[name] == waited[name]
    assert execution["task_id"] == task["id"]
    assert execution["task_name"] == task["name"]
    assert execution["status"] == "finished_success"
    assert execution["origin"] == "api"
    assert execution["caller"]
    assert execution["params"]["fail"] is False
    assert execution["exit_code"] == 0
    assert execution["node"] == "test-node"
    assert execution["attempt_count"] == 1
    assert execution["duration_ms"] >= 0
    assert (
        ts(execution["created_at"]) <= ts(execution["started_at"]) <= ts(execution["finished_at"])
    )
    assert execution["log_size"] > 0
    assert execution["log_dropped"] == 0
    assert isinstance(execution["message"], str)
    [attempt] = execution["attempts"]
    assert attempt["number"] == 1
    assert attempt["status"] == "finished_success"
    assert attempt["node"] == "test-node"
    assert attempt["exit_code"] == 0
    assert isinstance(attempt["pid"], int)
    assert attempt["started_at"]
    assert attempt["finished_at"]


def test_unknown_execution_is_404(client: httpx.Client) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    for path in ("", "/wait?timeout=0", "/log"):
        error_json(client.get(f"/api/v1/executions/{missing}{path}"), 404, "not_found")
    error_json(client.post(f"/api/v1/executions/{missing}/abort"), 404, "not_found")


def test_list_filters(client: httpx.Client) -> None:
    task = own_task(client)
    other = own_task(client)
    selector = f"label:{task['label']}"
    good = wait_execution(client, start_one(client, selector))
    bad = wait_execution(client, start_one(client, selector, {"fail": True}))
    wait_execution(client, start_one(client, f"label:{other['label']}"))
    assert good["status"] == "finished_success"
    assert bad["status"] == "finished_fail"

    # By task, id or label; newest first.
    assert ids(list_executions(client, task=task["id"])) == [bad["id"], good["id"]]
    assert ids(list_executions(client, task=task["label"])) == [bad["id"], good["id"]]

    # By status, once or repeated.
    assert ids(list_executions(client, task=task["id"], status="finished_fail")) == [bad["id"]]
    both = list_executions(client, task=task["id"], status=["finished_fail", "finished_success"])
    assert ids(both) == [bad["id"], good["id"]]
    assert list_executions(client, task=task["id"], status="aborted") == []

    # By origin.
    assert ids(list_executions(client, task=task["id"], origin="api")) == [bad["id"], good["id"]]
    assert list_executions(client, task=task["id"], origin="mqtt") == []

    # By time: `good` ended before `bad` was created.
    boundary = good["finished_at"]
    assert ids(list_executions(client, task=task["id"], since=boundary)) == [bad["id"]]
    assert ids(list_executions(client, task=task["id"], until=boundary)) == [good["id"]]

    # Without a task filter both tasks' executions are there.
    everything = ids(list_executions(client, limit=200))
    assert {good["id"], bad["id"]} <= set(everything)


def test_list_bad_filters_are_422(client: httpx.Client) -> None:
    error_json(client.get("/api/v1/executions", params={"status": "sleeping"}), 422, "invalid")
    error_json(client.get("/api/v1/executions", params={"since": "yesterday"}), 422, "invalid")
    error_json(client.get("/api/v1/executions", params={"limit": "0"}), 422, "invalid")
    error_json(client.get("/api/v1/executions", params={"limit": "many"}), 422, "invalid")
    response = client.get("/api/v1/executions", params={"cursor": "garbage!"})
    assert response.status_code in (400, 422), response.text


def test_cursor_pagination(client: httpx.Client) -> None:
    task = own_task(client)
    created = [start_one(client, f"label:{task['label']}") for _ in range(7)]
    for execution_id in created:
        wait_execution(client, execution_id)

    pages = []
    cursor: str | None = None
    for _ in range(10):
        params: dict[str, Any] = {"task": task["id"], "limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = ok_json(client.get("/api/v1/executions", params=params))
        pages.append(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert cursor is None
    assert [len(p) for p in pages][:2] == [3, 3]
    seen = [item["id"] for page in pages for item in page]
    assert len(seen) == len(set(seen)) == 7
    assert set(seen) == set(created)
    # Newest first, across pages too.
    assert seen == list(reversed(created))


def test_log_tailing_in_pieces(client: httpx.Client) -> None:
    task = own_task(client, CHATTY_CODE, params=[{"name": "lines", "type": "int"}])
    execution_id = start_one(client, f"label:{task['label']}", {"lines": 120})
    execution = wait_execution(client, execution_id)
    assert execution["status"] == "finished_success"

    whole = ok_json(
        client.get(
            f"/api/v1/executions/{execution_id}/log", params={"offset": 0, "limit": 1_000_000}
        )
    )
    assert whole["complete"] is True
    assert whole["offset"] == 0
    assert whole["next_offset"] == len(whole["data"])
    for i in range(120):
        assert f"line {i:04d} " in whole["data"]

    pieces = read_log(client, execution_id, limit=97)
    assert pieces == whole["data"]

    # Past the end: nothing more, complete.
    end = ok_json(
        client.get(
            f"/api/v1/executions/{execution_id}/log", params={"offset": whole["next_offset"]}
        )
    )
    assert end["data"] == ""
    assert end["complete"] is True
    assert end["next_offset"] == whole["next_offset"]


def test_log_of_a_running_execution_is_not_complete(client: httpx.Client) -> None:
    execution_id = start_one(client, "label:slow")
    try:
        wait_status(client, execution_id, "started")
        page = ok_json(client.get(f"/api/v1/executions/{execution_id}/log"))
        assert page["complete"] is False
    finally:
        abort(client, execution_id)
    wait_execution(client, execution_id)
    log = read_log(client, execution_id)
    assert isinstance(log, str)


def test_abort_a_running_execution(client: httpx.Client) -> None:
    execution_id = start_one(client, "label:slow")
    wait_status(client, execution_id, "started")
    answer = abort(client, execution_id)
    assert answer["id"] == execution_id
    assert answer["status"] in ("abort_initiated", "aborting", "aborted"), answer
    execution = wait_execution(client, execution_id)
    assert execution["status"] == "aborted"
    assert execution["finished_at"]
    assert execution["attempts"][-1]["status"] == "aborted"
    # Aborting again changes nothing.
    again = abort(client, execution_id)
    assert again["status"] == "aborted"


def test_abort_a_finished_execution_changes_nothing(client: httpx.Client) -> None:
    execution_id = start_one(client, "label:quick")
    before = wait_execution(client, execution_id)
    answer = abort(client, execution_id)
    assert answer["status"] == "finished_success"
    after = get_execution(client, execution_id)
    for name in ("status", "finished_at", "exit_code", "attempt_count", "message"):
        assert after[name] == before[name]


def test_abort_a_queued_execution(client: httpx.Client) -> None:
    task = own_task(
        client, SLEEP_CODE, concurrency={"max_running": 1, "overlap": "queue"}, params=[]
    )
    first = start_one(client, f"label:{task['label']}")
    second = start_one(client, f"label:{task['label']}")
    try:
        wait_status(client, first, "started")
        assert get_execution(client, second)["status"] == "queued"
        answer = abort(client, second)
        assert answer["status"] in ("abort_initiated", "aborting", "aborted")
        assert wait_execution(client, second)["status"] == "aborted"
        assert get_execution(client, second)["started_at"] is None
    finally:
        abort(client, first)
        abort(client, second)
    assert wait_execution(client, first)["status"] == "aborted"


@pytest.mark.parametrize("status", sorted(TERMINAL))
def test_status_filter_accepts_every_terminal_status(client: httpx.Client, status: str) -> None:
    ok_json(client.get("/api/v1/executions", params={"status": status, "limit": 1}))


def test_list_by_caller(client: httpx.Client) -> None:
    task = own_task(client)
    execution = wait_execution(client, start_one(client, f"label:{task['label']}"))
    caller = execution["caller"]
    assert caller
    found = list_executions(client, task=task["id"], caller=caller)
    assert ids(found) == [execution["id"]]
    assert list_executions(client, task=task["id"], caller="chain:nobody") == []
    too_long = client.get("/api/v1/executions", params={"caller": "x" * 201})
    error_json(too_long, 422, "invalid")


def test_cursor_pagination_over_several_statuses(client: httpx.Client) -> None:
    """Several statuses are merged from one index range each: the pages still come newest
    first, each row once, and the other statuses stay out."""
    task = own_task(client)
    selector = f"label:{task['label']}"
    created = []
    for n in range(7):
        created.append(start_one(client, selector, {"fail": n % 2 == 1}))
        wait_execution(client, created[-1])
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {
            "task": task["id"],
            "status": ["finished_fail", "finished_success", "aborted"],
            "limit": 2,
        }
        if cursor:
            params["cursor"] = cursor
        page = ok_json(client.get("/api/v1/executions", params=params))
        seen += ids(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(created))
    fails = list_executions(client, task=task["id"], status=["finished_fail", "error"])
    assert ids(fails) == [created[5], created[3], created[1]]
