"""Starting tasks: selectors, parameters, waiting and idempotency."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from taskgate.domain.selectors import MAX_SELECTORS
from tests.support import (
    OFF_ID,
    QUICK_CODE,
    QUICK_ID,
    SEL_A_ID,
    SEL_B_ID,
    SEL_C_ID,
    TERMINAL,
    abort,
    create_task,
    error_json,
    get_execution,
    list_executions,
    ok_json,
    py_task,
    read_log,
    start,
    start_one,
    unique,
    wait_execution,
)

NAMES = {SEL_A_ID: "Selector task A", SEL_B_ID: "Selector task B", SEL_C_ID: "Selector task C"}


def matched_ids(result: dict[str, Any]) -> list[str]:
    return sorted(t["task_id"] for t in result["tasks"])


def finish_all(client: httpx.Client, answer: dict[str, Any]) -> list[dict[str, Any]]:
    return [wait_execution(client, e["id"]) for e in answer["executions"]]


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        (f"id:{SEL_A_ID}", [SEL_A_ID]),
        ("label:sel-b", [SEL_B_ID]),
        ("name:Selector task C", [SEL_C_ID]),
        ("tag:alpha", [SEL_A_ID, SEL_B_ID]),
        ("property:group=g2", [SEL_B_ID, SEL_C_ID]),
        ("property:group=g1", [SEL_A_ID, SEL_B_ID]),
        (SEL_C_ID, [SEL_C_ID]),
        (SEL_A_ID.upper(), [SEL_A_ID]),
        ("sel-a", [SEL_A_ID]),
        ("Selector task B", [SEL_B_ID]),
    ],
)
def test_start_by_selector(client: httpx.Client, selector: str, expected: list[str]) -> None:
    answer = start(client, [selector])
    assert len(answer["results"]) == 1
    result = answer["results"][0]
    assert result["selector"] == selector
    assert result["outcome"] == "matched", result
    assert matched_ids(result) == sorted(expected)
    for task in result["tasks"]:
        assert task["task_name"] == NAMES[task["task_id"]]
        assert task["execution_id"]
        assert task["status"] in ("triggered", "queued", "started", *TERMINAL)
    assert answer["started"] == len(expected)
    assert answer["timed_out"] is False
    assert sorted(e["task_id"] for e in answer["executions"]) == sorted(expected)
    assert {e["id"] for e in answer["executions"]} == {t["execution_id"] for t in result["tasks"]}
    for execution in finish_all(client, answer):
        assert execution["status"] == "finished_success", execution
        assert execution["origin"] == "api"


def test_start_several_selectors_at_once(client: httpx.Client) -> None:
    answer = start(client, ["tag:alpha", "label:sel-c", "label:nope-" + uuid.uuid4().hex])
    outcomes = [r["outcome"] for r in answer["results"]]
    assert outcomes == ["matched", "matched", "not_found"]
    assert answer["started"] == 3
    assert sorted(e["task_id"] for e in answer["executions"]) == sorted(
        [SEL_A_ID, SEL_B_ID, SEL_C_ID]
    )
    assert answer["results"][2]["tasks"] == []
    assert answer["results"][2]["message"]
    finish_all(client, answer)


@pytest.mark.parametrize("selector", ["id:abc123", "id:fb0f317d-da91-4b86-aafa-0174ae1e8c8"])
def test_malformed_id_is_invalid(client: httpx.Client, selector: str) -> None:
    answer = start(client, [selector])
    result = answer["results"][0]
    assert result["outcome"] == "invalid", result
    assert result["tasks"] == []
    assert result["message"]
    assert answer["started"] == 0
    assert answer["executions"] == []


@pytest.mark.parametrize(
    "selector",
    [
        # Named: a random id in the test's name differs between xdist workers' collections.
        pytest.param(f"id:{uuid.uuid4()}", id="id:random-uuid"),
        "label:no-such-label",
        "name:No such task",
        "tag:no-such-tag",
        "property:group=nothing",
        pytest.param(str(uuid.uuid4()), id="random-uuid"),
    ],
)
def test_unknown_is_not_found(client: httpx.Client, selector: str) -> None:
    answer = start(client, [selector])
    assert answer["results"][0]["outcome"] == "not_found", answer
    assert answer["started"] == 0
    assert answer["executions"] == []


def test_all_must_exist_starts_nothing_when_one_is_missing(client: httpx.Client) -> None:
    before = len(list_executions(client, task=SEL_A_ID))
    answer = start(
        client, [f"id:{SEL_A_ID}", f"id:{uuid.uuid4()}", "id:abc123"], all_must_exist=True
    )
    assert [r["outcome"] for r in answer["results"]] == ["matched", "not_found", "invalid"]
    assert answer["started"] == 0
    assert answer["executions"] == []
    assert all(t["execution_id"] is None for t in answer["results"][0]["tasks"])
    assert len(list_executions(client, task=SEL_A_ID)) == before


def test_all_must_exist_starts_when_all_exist(client: httpx.Client) -> None:
    answer = start(client, [f"id:{SEL_A_ID}", "label:sel-b"], all_must_exist=True, wait=30)
    assert answer["started"] == 2
    assert all(e["status"] == "finished_success" for e in answer["executions"])


def test_disabled_task_never_starts(client: httpx.Client) -> None:
    answer = start(client, ["label:off"])
    result = answer["results"][0]
    assert result["outcome"] == "matched"
    assert result["tasks"] == [
        {
            "task_id": OFF_ID,
            "task_name": "Disabled task",
            "execution_id": None,
            "status": "never_started",
            "reason": "task is disabled",
        }
    ]
    assert answer["started"] == 0
    assert answer["executions"] == []
    assert list_executions(client, task=OFF_ID) == []


def test_preview_starts_nothing(client: httpx.Client) -> None:
    before = len(list_executions(client, task=SEL_A_ID))
    preview = ok_json(
        client.post("/api/v1/preview", json={"selectors": ["tag:alpha", "label:off", "id:x"]})
    )
    results = preview["results"]
    assert [r["outcome"] for r in results] == ["matched", "matched", "invalid"]
    assert sorted(t["task_id"] for t in results[0]["tasks"]) == [SEL_A_ID, SEL_B_ID]
    assert results[1]["tasks"] == [
        {"task_id": OFF_ID, "task_name": "Disabled task", "enabled": False}
    ]
    assert len(list_executions(client, task=SEL_A_ID)) == before


# --- parameters ------------------------------------------------------------------------------


def test_command_sees_params_in_env_and_file(client: httpx.Client) -> None:
    answer = start(client, ["label:quick"], {"region": "NA", "extra": "x y"}, wait=30)
    execution = get_execution(client, answer["executions"][0]["id"])
    assert execution["status"] == "finished_success", execution
    assert execution["params"]["region"] == "NA"
    assert execution["params"]["extra"] == "x y"
    result = execution["result"]
    assert result["params"]["region"] == "NA"
    assert result["params"]["extra"] == "x y"
    env = result["env"]
    assert env["TASKGATE_PARAM_REGION"] == "NA"
    assert env["TASKGATE_PARAM_EXTRA"] == "x y"
    assert env["TASKGATE_EXECUTION_ID"] == execution["id"]
    assert env["TASKGATE_TASK_ID"] == QUICK_ID
    assert env["TASKGATE_URL"].startswith("http://127.0.0.1:")
    log = read_log(client, execution["id"])
    assert "env TASKGATE_PARAM_REGION=NA" in log
    assert "quick done" in log


def test_declared_default_reaches_the_command(client: httpx.Client) -> None:
    answer = start(client, ["label:quick"], wait=30)
    execution = get_execution(client, answer["executions"][0]["id"])
    assert execution["result"]["params"]["region"] == "EU"
    assert execution["result"]["env"]["TASKGATE_PARAM_REGION"] == "EU"


def test_string_params_are_coerced(client: httpx.Client) -> None:
    params = {"count": "42", "ratio": "1.5", "flag": "true", "meta": '{"a": [1, 2]}', "title": "T"}
    answer = start(client, ["label:typed"], params, wait=30)
    execution = get_execution(client, answer["executions"][0]["id"])
    assert execution["status"] == "finished_success", execution
    expected = {"count": 42, "ratio": 1.5, "flag": True, "meta": {"a": [1, 2]}, "title": "T"}
    for name, value in expected.items():
        assert execution["params"][name] == value, execution["params"]
        assert execution["result"]["params"][name] == value, execution["result"]
    assert json.loads(execution["result"]["env"]["TASKGATE_PARAM_META"]) == {"a": [1, 2]}
    assert execution["result"]["env"]["TASKGATE_PARAM_COUNT"] == "42"


def test_native_types_are_accepted(client: httpx.Client) -> None:
    params = {"count": 7, "ratio": 2, "flag": False, "meta": {"k": "v"}}
    answer = start(client, ["label:typed"], params, wait=30)
    execution = get_execution(client, answer["executions"][0]["id"])
    assert execution["status"] == "finished_success", execution
    assert execution["result"]["params"]["count"] == 7
    assert execution["result"]["params"]["ratio"] == 2.0
    assert execution["result"]["params"]["flag"] is False
    assert execution["result"]["params"]["meta"] == {"k": "v"}
    assert execution["result"]["params"]["title"] == "untitled"


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"count": "x"}, "count"),
        ({"count": 1.5}, "count"),
        ({"count": 1, "ratio": "fast"}, "ratio"),
        ({"count": 1, "flag": "maybe"}, "flag"),
        ({"count": 1, "meta": "{not json"}, "meta"),
        ({}, "count"),
        ({"ratio": 1.0}, "count"),
    ],
)
def test_bad_params_are_422_and_start_nothing(
    client: httpx.Client, params: dict[str, Any], name: str
) -> None:
    before = len(list_executions(client, task="typed"))
    response = client.post("/api/v1/start", json={"selectors": ["label:typed"], "params": params})
    body = error_json(response, 422, "invalid")
    assert body["field"] == f"params.{name}", body
    assert name in body["message"]
    response = client.post("/api/v1/tasks/typed/start", json={"params": params})
    body = error_json(response, 422, "invalid")
    assert body["field"] == f"params.{name}", body
    assert len(list_executions(client, task="typed")) == before


def test_start_one_task_by_ref(client: httpx.Client) -> None:
    response = client.post(
        "/api/v1/tasks/quick/start", json={"params": {"region": "AP"}, "wait": 30}
    )
    answer = ok_json(response)
    assert answer["started"] == 1
    assert answer["timed_out"] is False
    execution = answer["executions"][0]
    assert execution["task_id"] == QUICK_ID
    assert execution["status"] == "finished_success"
    assert get_execution(client, execution["id"])["params"]["region"] == "AP"


def test_start_by_ref_of_disabled_task(client: httpx.Client) -> None:
    answer = ok_json(client.post(f"/api/v1/tasks/{OFF_ID}/start", json={}))
    assert answer["started"] == 0
    assert answer["executions"] == []
    assert answer["results"][0]["tasks"][0]["status"] == "never_started"


# --- waiting ---------------------------------------------------------------------------------


def test_wait_on_start_returns_final_statuses(client: httpx.Client) -> None:
    answer = start(client, ["label:quick", "label:fail"], wait=30)
    assert answer["timed_out"] is False
    statuses = {e["task_name"]: e["status"] for e in answer["executions"]}
    assert statuses == {"Quick task": "finished_success", "Failing task": "finished_fail"}
    per_task = {t["task_name"]: t["status"] for r in answer["results"] for t in r["tasks"]}
    assert per_task == statuses
    failed = get_execution(
        client, next(e["id"] for e in answer["executions"] if e["task_name"] == "Failing task")
    )
    assert failed["exit_code"] == 3
    assert failed["attempt_count"] == 1


def test_wait_endpoint(client: httpx.Client) -> None:
    execution_id = start_one(client, "label:fail")
    execution = wait_execution(client, execution_id)
    assert execution["status"] == "finished_fail"
    assert execution["exit_code"] == 3
    assert execution["attempts"][0]["exit_code"] == 3
    assert execution["finished_at"]


def test_wait_times_out_on_a_running_task(client: httpx.Client) -> None:
    answer = start(client, ["label:slow"], wait=0.2)
    assert answer["timed_out"] is True
    execution_id = answer["executions"][0]["id"]
    assert answer["executions"][0]["status"] not in TERMINAL
    try:
        waited = ok_json(
            client.get(f"/api/v1/executions/{execution_id}/wait", params={"timeout": 0.2})
        )
        assert waited["timed_out"] is True
        assert waited["status"] not in TERMINAL
        assert waited["id"] == execution_id
    finally:
        abort(client, execution_id)
    assert wait_execution(client, execution_id)["status"] == "aborted"


@pytest.mark.parametrize("timeout", ["-1", "3601", "soon"])
def test_wait_timeout_out_of_range_is_422(client: httpx.Client, timeout: str) -> None:
    execution_id = start_one(client, "label:quick", wait=30)
    response = client.get(f"/api/v1/executions/{execution_id}/wait", params={"timeout": timeout})
    error_json(response, 422, "invalid")


@pytest.mark.parametrize("wait", [-1, 3601, "long"])
def test_start_wait_out_of_range_is_422(client: httpx.Client, wait: Any) -> None:
    response = client.post("/api/v1/start", json={"selectors": ["label:quick"], "wait": wait})
    body = error_json(response, 422, "invalid")
    assert body["field"] == "body.wait", body


# --- idempotency -----------------------------------------------------------------------------


def test_idempotency_key_starts_once(client: httpx.Client) -> None:
    task = create_task(client, py_task("Idem", QUICK_CODE, label=unique("idem")))
    key = unique("key")
    body = {"selectors": [f"label:{task['label']}"], "params": {"n": "1"}}
    first = ok_json(client.post("/api/v1/start", json=body, headers={"Idempotency-Key": key}))
    second = ok_json(client.post("/api/v1/start", json=body, headers={"Idempotency-Key": key}))
    assert first["started"] == 1
    assert second["started"] == first["started"]
    assert [e["id"] for e in second["executions"]] == [e["id"] for e in first["executions"]]
    assert second["results"][0]["tasks"][0]["execution_id"] == first["executions"][0]["id"]
    wait_execution(client, first["executions"][0]["id"])
    assert len(list_executions(client, task=task["id"])) == 1

    # Another key starts again.
    third = ok_json(
        client.post("/api/v1/start", json=body, headers={"Idempotency-Key": unique("key")})
    )
    assert third["executions"][0]["id"] != first["executions"][0]["id"]
    wait_execution(client, third["executions"][0]["id"])
    assert len(list_executions(client, task=task["id"])) == 2


def test_idempotency_key_with_other_body_is_409(client: httpx.Client) -> None:
    task = create_task(client, py_task("Idem", QUICK_CODE, label=unique("idem")))
    key = unique("key")
    body = {"selectors": [f"label:{task['label']}"], "params": {"n": "1"}}
    first = ok_json(client.post("/api/v1/start", json=body, headers={"Idempotency-Key": key}))
    other = {**body, "params": {"n": "2"}}
    error_json(
        client.post("/api/v1/start", json=other, headers={"Idempotency-Key": key}), 409, "conflict"
    )
    wait_execution(client, first["executions"][0]["id"])
    assert len(list_executions(client, task=task["id"])) == 1


def test_too_long_idempotency_key_is_rejected(client: httpx.Client) -> None:
    response = client.post(
        "/api/v1/start", json={"selectors": ["label:quick"]}, headers={"Idempotency-Key": "k" * 201}
    )
    assert response.status_code in (400, 422), response.text
    assert response.json()["error"] in ("bad_request", "invalid")


@pytest.mark.parametrize("path", ["/api/v1/start", "/api/v1/preview"])
def test_more_selectors_than_the_limit_are_422(client: httpx.Client, path: str) -> None:
    body = {"selectors": ["label:quick"] * (MAX_SELECTORS + 1)}
    assert error_json(client.post(path, json=body), 422, "invalid")["field"] == "body.selectors"
