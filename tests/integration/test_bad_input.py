"""Text and numbers no door may store (a NUL, a lone surrogate, integers past the columns,
dates past the calendar, JSON too deep) get a 4xx naming the field, on every door, and the
server logs no error (issue 20)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import ServerFactory, ServerProcess
from tests.support import STANDARD_TASKS, error_json, ok_json, py_task, unique, wait_execution

NUL = "a\x00b"
SURROGATE = "a\ud800b"
JSON = {"Content-Type": "application/json"}
QRS_HEADERS = {"X-Qlik-Xrfkey": "abcdefghijklmnop", "X-Qlik-User": "UserDirectory=X; UserId=y"}
QRS_PARAMS = {"Xrfkey": "abcdefghijklmnop"}


@pytest.fixture(scope="module")
def edge_server(_module_servers: ServerFactory) -> ServerProcess:
    butler = {"enabled": True, "open_to": ["127.0.0.1/32"]}
    return _module_servers(
        {"butler": butler, "qrs": {"enabled": True, "open_to": ["127.0.0.1/32"]}},
        tasks=STANDARD_TASKS,
    )


@pytest.fixture
def http(edge_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=edge_server.url, timeout=30) as client:
        yield client
        # Whatever was sent, the server still serves and logged no unexpected error.
        assert ok_json(client.get("/readyz"))["status"] == "ready"
    assert "unexpected error" not in edge_server.log_text()
    assert "Traceback" not in edge_server.log_text()


def raw_json(value: Any) -> bytes:
    # json.dumps spells a lone surrogate as \ud800, as a JSON client may.
    return json.dumps(value).encode()


def task_body(**fields: Any) -> dict[str, Any]:
    return {**py_task("Edge", "print(1)", label=unique("edge")), **fields}


@pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["nul", "surrogate"])
@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/tasks", lambda bad: task_body(name=bad), "body.name"),
        ("/api/v1/tasks", lambda bad: task_body(tags=["ok", bad]), "body.tags.1"),
        ("/api/v1/tasks", lambda bad: task_body(properties={"p": [bad]}), "body.properties.p.0"),
        ("/api/v1/start", lambda bad: {"selectors": [f"name:{bad}"]}, "body.selectors.0"),
        (
            "/api/v1/start",
            lambda bad: {"selectors": ["label:quick"], "params": {"x": bad}},
            "body.params.x",
        ),
        (
            "/api/v1/schedules",
            lambda bad: {"task": "quick", "cron": "* * * * *", "name": bad},
            "body.name",
        ),
        (
            "/api/v1/webhooks",
            lambda bad: {"url": f"http://x/{bad}", "secret": "s" * 16},
            "body.url",
        ),
    ],
)
def test_bad_text_in_a_body_is_422_naming_the_field(
    http: httpx.Client, bad: str, path: str, body: Any, field: str
) -> None:
    answer = error_json(http.post(path, content=raw_json(body(bad)), headers=JSON), 422, "invalid")
    assert answer["field"] == field, answer


@pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["nul", "surrogate"])
def test_bad_text_in_a_kv_value_is_422(http: httpx.Client, bad: str) -> None:
    body = raw_json({"value": bad})
    answer = error_json(http.put("/api/v1/kv/ns/k", content=body, headers=JSON), 422, "invalid")
    assert answer["field"] == "body.value", answer


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/v1/tasks", {"tag": NUL}, "tag"),
        ("/api/v1/executions", {"task": NUL}, "task"),
        ("/api/v1/executions", {"origin": NUL}, "origin"),
        ("/api/v1/schedules", {"task": NUL}, "task"),
        ("/api/v1/tasks/a%00b", {}, "path"),
        ("/api/v1/kv/a%00b/key", {}, "path"),
        ("/api/v1/executions/a%00b", {}, "path"),
    ],
)
def test_nul_in_a_query_or_path_is_422(
    http: httpx.Client, path: str, params: dict[str, str], field: str
) -> None:
    answer = error_json(http.get(path, params=params), 422, "invalid")
    assert answer["field"] == field, answer


def test_nul_in_a_start_parameter_refuses_the_start(http: httpx.Client) -> None:
    before = ok_json(http.get("/api/v1/executions", params={"task": "quick"}))["items"]
    body = raw_json({"selectors": ["label:quick"], "params": {"n": NUL}})
    error_json(http.post("/api/v1/tasks/quick/start", content=body, headers=JSON), 422, "invalid")
    error_json(http.post("/api/v1/start", content=body, headers=JSON), 422, "invalid")
    after = ok_json(http.get("/api/v1/executions", params={"task": "quick"}))["items"]
    assert len(after) == len(before)


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/v1/tasks", {"offset": 2**63}, "query.offset"),
        ("/api/v1/schedules", {"offset": 2**63}, "query.offset"),
        ("/api/v1/executions/x/log", {"offset": 2**63}, "query.offset"),
        ("/api/v1/tasks", {"offset": "9" * 5000}, "query.offset"),
        ("/api/v1/executions", {"since": "9999-12-31T23:59:59-05:00"}, "query.since"),
        ("/api/v1/executions", {"until": "9999-12-31T23:00:00-14:00"}, "query.until"),
    ],
)
def test_numbers_and_dates_out_of_range_are_422(
    http: httpx.Client, path: str, params: dict[str, Any], field: str
) -> None:
    answer = error_json(http.get(path, params=params), 422, "invalid")
    assert answer["field"] == field, answer


def test_delivery_id_past_the_column_is_422(http: httpx.Client) -> None:
    answer = error_json(
        http.post(f"/api/v1/webhooks/w/deliveries/{2**31}/redeliver"), 422, "invalid"
    )
    assert answer["field"] == "path.delivery_id", answer


@pytest.mark.parametrize("days", ["3e6", "1e308", "Infinity", "0"])
def test_expires_days_out_of_range_is_422(http: httpx.Client, days: str) -> None:
    body = f'{{"name": "k", "role": "viewer", "expires_days": {days}}}'.encode()
    answer = error_json(http.post("/api/v1/keys", content=body, headers=JSON), 422, "invalid")
    assert answer["field"] == "body.expires_days", answer


def test_an_int_parameter_of_too_many_digits_is_422(http: httpx.Client) -> None:
    body = {"params": {"count": "1" * 5000}}
    answer = error_json(http.post("/api/v1/tasks/typed/start", json=body), 422, "invalid")
    assert answer["field"] == "params.count", answer


DEEP = b"[" * 5000 + b"]" * 5000


def test_deep_json_on_butler_and_qrs_is_400(http: httpx.Client) -> None:
    butler = http.post("/v4/keyvalues/ns", content=DEEP, headers=JSON)
    assert butler.status_code == 400, butler.text
    assert butler.json()["code"] == "FST_ERR_CTP_INVALID_JSON_BODY"
    qrs = http.post(
        "/qrs/task/start/many",
        content=DEEP,
        headers={**JSON, **QRS_HEADERS},
        params=QRS_PARAMS,
    )
    assert qrs.status_code == 400, qrs.text
    assert http.post("/api/v1/start", content=DEEP, headers=JSON).status_code == 400


@pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["nul", "surrogate"])
def test_bad_text_on_butler_is_400(http: httpx.Client, bad: str) -> None:
    body = raw_json({"key": "k", "value": bad})
    answer = http.post("/v4/keyvalues/ns", content=body, headers=JSON)
    assert answer.status_code == 400, answer.text
    assert "body/value" in answer.json()["message"]
    start = raw_json([{"type": "keyvaluestore", "payload": {"namespace": "n", "key": bad}}])
    answer = http.put("/v4/reloadtask/x/start", content=start, headers=JSON)
    assert answer.status_code == 400, answer.text
    for path in ("/v4/keyvalues/a%00b", "/v4/keylist/ns?x=%00"):
        answer = http.get(path, params={"key": "k"})
        assert answer.status_code == 400, answer.text


def test_bad_text_on_qrs_is_400(http: httpx.Client) -> None:
    for params in ({"filter": "name eq 'a\x00'"}, {"name": NUL}):
        answer = http.get("/qrs/task", params={**params, **QRS_PARAMS}, headers=QRS_HEADERS)
        assert answer.status_code == 400, answer.text
        assert answer.json()["field"] in params


def test_a_nul_start_still_leaves_the_task_startable(http: httpx.Client) -> None:
    started = ok_json(http.post("/api/v1/tasks/quick/start", json={}))
    execution_id = started["results"][0]["tasks"][0]["execution_id"]
    assert wait_execution(http, execution_id)["status"] == "finished_success"
