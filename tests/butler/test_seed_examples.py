"""Every request of Butler's "Start Sense tasks using REST API" page, replayed against the demo
config; each answer must be the document's, byte for byte (2-space JSON as text/plain)."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.conftest import ServerProcess
from tests.support import list_executions

APP1 = {"taskId": "e3b27f50-b1c0-4879-88fc-c7cdd9c1cf3e", "taskName": "Reload task of App1"}
APP2 = {"taskId": "7552d9fc-d1bb-4975-9a38-18357de531ea", "taskName": "Reload task of App2"}
APP3 = {"taskId": "fb0f317d-da91-4b86-aafa-0174ae1e8c8f", "taskName": "Reload task of App3"}
OPS = {"taskId": "fbf645f0-0c92-40a4-af9a-6e3eb1d3c35c", "taskName": "Reload Operations Monitor"}
TOO_SHORT = "fb0f317d-da91-4b86-aafa-0174ae1e8c8"
NOT_LISTED = "8b4fe424-d90c-493f-a61d-0ce91cd485c9"
HEADERS = {"Content-Type": "application/json; charset=utf-8"}


def answer(
    started: list[dict[str, str]] | None = None,
    invalid: list[str] | None = None,
    denied: list[str] | None = None,
    tag: list[dict[str, str]] | None = None,
    cp: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    return {
        "tasksId": {
            "started": started or [],
            "invalid": [{"taskId": t} for t in invalid or []],
            "denied": [{"taskId": t} for t in denied or []],
        },
        "tasksTag": tag or [],
        "tasksTagDenied": [],
        "tasksCP": cp or [],
        "tasksCPDenied": [],
    }


def by_id(task_id: str) -> dict[str, Any]:
    return {"type": "starttaskid", "payload": {"taskId": task_id}}


def by_tag(tag: str) -> dict[str, Any]:
    return {"type": "starttasktag", "payload": {"tag": tag}}


def by_cp(value: str) -> dict[str, Any]:
    return {
        "type": "starttaskcustomproperty",
        "payload": {"customPropertyName": "taskGroup", "customPropertyValue": value},
    }


def put_start(server: ServerProcess, task_id: str, body: str, query: str = "") -> httpx.Response:
    url = f"{server.url}/v4/reloadtask/{task_id}/start{query}"
    return httpx.put(url, content=body.encode(), headers=HEADERS, timeout=30)


def assert_answer(response: httpx.Response, expected: dict[str, Any]) -> None:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text == json.dumps(expected, indent=2)


def test_single_task_by_id(butler_server: ServerProcess) -> None:
    response = put_start(butler_server, APP1["taskId"], "[]")
    assert_answer(response, answer(started=[APP1]))


def test_single_invalid_task_id(butler_server: ServerProcess) -> None:
    response = put_start(butler_server, "abc123", "[]")
    assert_answer(response, answer(invalid=["abc123"]))


def test_several_ids_with_the_magic_dash(butler_server: ServerProcess) -> None:
    body = json.dumps([by_id(APP2["taskId"]), by_id(APP3["taskId"])], indent=2)
    assert_answer(put_start(butler_server, "-", body), answer(started=[APP2, APP3]))


def test_all_ids_must_exist_with_filter_on(filtered_server: ServerProcess) -> None:
    body = json.dumps([by_id(APP2["taskId"]), by_id(TOO_SHORT)])
    response = put_start(filtered_server, APP1["taskId"], body, "?allTaskIdsMustExist=true")
    assert_answer(response, answer(invalid=[TOO_SHORT], denied=[APP1["taskId"], APP2["taskId"]]))


def test_all_ids_must_exist_with_filter_off(butler_server: ServerProcess) -> None:
    client = butler_server.client()
    before = len(list_executions(client, origin="butler", limit=500))
    body = json.dumps([by_id(APP2["taskId"]), by_id(TOO_SHORT)])
    response = put_start(butler_server, APP1["taskId"], body, "?allTaskIdsMustExist=true")
    assert_answer(response, answer(invalid=[TOO_SHORT], denied=[APP1["taskId"], APP2["taskId"]]))
    # Nothing was started behind the answer's back.
    assert len(list_executions(client, origin="butler", limit=500)) == before


def test_filter_on_with_mixed_ids(filtered_server: ServerProcess) -> None:
    body = json.dumps([by_id(APP2["taskId"]), by_id(TOO_SHORT), by_id(NOT_LISTED)])
    response = put_start(filtered_server, APP1["taskId"], body)
    assert_answer(response, answer(started=[APP1, APP2], invalid=[TOO_SHORT], denied=[NOT_LISTED]))


def test_start_by_tag(butler_server: ServerProcess) -> None:
    response = put_start(butler_server, "-", json.dumps([by_tag("startTask1")]))
    assert_answer(response, answer(tag=[APP1, APP2, APP3]))


def test_start_by_custom_property_lists_a_task_once_per_match(
    butler_server: ServerProcess,
) -> None:
    body = json.dumps([by_cp("tasks1"), by_cp("tasks2")])
    response = put_start(butler_server, "-", body, "?allTaskIdsMustExist=false")
    assert_answer(response, answer(cp=[APP1, APP2, APP3, APP2]))


def test_key_values_are_stored_with_the_start(butler_server: ServerProcess) -> None:
    body = json.dumps(
        [
            {
                "type": "keyvaluestore",
                "payload": {
                    "value": "TheValue",
                    "namespace": "MyFineNamespace",
                    "key": "AnImportantKey",
                    "ttl": 10000,
                },
            },
            {
                "type": "keyvaluestore",
                "payload": {"value": "Bar", "namespace": "MyFineNamespace", "key": "Foo"},
            },
        ]
    )
    assert_answer(put_start(butler_server, OPS["taskId"], body), answer(started=[OPS]))
    for key, value in (("AnImportantKey", "TheValue"), ("Foo", "Bar")):
        got = httpx.get(
            f"{butler_server.url}/v4/keyvalues/MyFineNamespace", params={"key": key}
        ).json()
        assert got == {"namespace": "MyFineNamespace", "key": key, "value": value}


def test_a_bit_of_everything(butler_server: ServerProcess) -> None:
    body = json.dumps(
        [
            by_id(APP2["taskId"]),
            by_id(APP3["taskId"]),
            by_tag("startTask1"),
            by_tag("startTask2"),
            by_cp("tasks1"),
            by_cp("tasks2"),
            {
                "type": "keyvaluestore",
                "payload": {
                    "value": "TheValue",
                    "namespace": "MyFineNamespace",
                    "key": "AnImportantKey",
                    "ttl": 10000,
                },
            },
            {
                "type": "keyvaluestore",
                "payload": {"namespace": "MyFineNamespace", "key": "Foo", "value": "Bar"},
            },
        ]
    )
    response = put_start(butler_server, APP1["taskId"], body, "?allTaskIdsMustExist=true")
    assert_answer(
        response,
        answer(
            started=[APP1, APP2, APP3],
            tag=[APP1, APP2, APP3, APP3],
            cp=[APP1, APP2, APP3, APP2],
        ),
    )


def test_every_listed_start_is_an_execution_in_the_native_api(
    butler_server: ServerProcess,
) -> None:
    client = butler_server.client()
    before = {e["id"] for e in list_executions(client, origin="butler", limit=500)}
    body = json.dumps([by_cp("tasks1"), by_cp("tasks2")])
    put_start(butler_server, "-", body).raise_for_status()
    new = [e for e in list_executions(client, origin="butler", limit=500) if e["id"] not in before]
    # App2 matched both values: two executions, queued one after the other by its policy.
    assert sorted(e["task_name"] for e in new) == sorted(
        [APP1["taskName"], APP2["taskName"], APP2["taskName"], APP3["taskName"]]
    )
    assert {e["caller"] for e in new} == {"butler@127.0.0.1"}
