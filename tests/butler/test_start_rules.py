"""The start endpoint beyond the documented examples: filter kinds, id checks, bad input."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.butler.conftest import demo_butler, demo_tasks
from tests.butler.test_kv import fastify_error
from tests.butler.test_seed_examples import APP1, APP2, APP3, by_cp, by_id, by_tag, put_start
from tests.conftest import ServerProcess, StartServer
from tests.support import list_executions, unique

LICENSE_ID = "8b4fe424-d90c-493f-a61d-0ce91cd485c9"  # tagged `monitoring`, not on the id list


def start_json(server: ServerProcess, task_id: str, body: Any, query: str = "") -> Any:
    response = put_start(server, task_id, json.dumps(body), query)
    assert response.status_code == 200, response.text
    return response.json()


def test_filter_checks_each_kind_against_its_own_list(filtered_server: ServerProcess) -> None:
    body = [
        by_tag("startTask1"),
        by_tag("monitoring"),
        by_cp("tasks2"),
        {
            "type": "starttaskcustomproperty",
            "payload": {"customPropertyName": "taskGroup", "customPropertyValue": "tasks9"},
        },
    ]
    answer = start_json(filtered_server, LICENSE_ID, body)
    assert answer["tasksId"] == {"started": [], "invalid": [], "denied": [{"taskId": LICENSE_ID}]}
    assert answer["tasksTag"] == [APP1, APP2, APP3]
    assert answer["tasksTagDenied"] == [{"tag": "monitoring"}]
    assert answer["tasksCP"] == [APP2]
    assert answer["tasksCPDenied"] == [{"name": "taskGroup", "value": "tasks9"}]


def test_malformed_ids_are_invalid_before_the_filter_is_asked(
    filtered_server: ServerProcess,
) -> None:
    upper = APP1["taskId"].upper()
    version_seven = "0190f4c5-7d3e-7b1a-9c2d-3e4f5a6b7c8d"
    answer = start_json(filtered_server, upper, [by_id(version_seven)])
    assert answer["tasksId"]["invalid"] == [{"taskId": upper}, {"taskId": version_seven}]
    assert answer["tasksId"]["denied"] == []


def test_unknown_ids_are_invalid_and_unmatched_tags_are_silent(
    butler_server: ServerProcess,
) -> None:
    unknown = "11111111-2222-4333-8444-555555555555"
    answer = start_json(butler_server, unknown, [by_tag("no-such-tag")])
    assert answer["tasksId"]["invalid"] == [{"taskId": unknown}]
    assert answer["tasksTag"] == [] and answer["tasksTagDenied"] == []


def test_all_ids_must_exist_leaves_tag_and_property_starts_alone(
    butler_server: ServerProcess,
) -> None:
    body = [by_id("abc123"), by_tag("startTask2"), by_cp("tasks2")]
    answer = start_json(butler_server, APP1["taskId"], body, "?allTaskIdsMustExist=true")
    assert answer["tasksId"] == {
        "started": [],
        "invalid": [{"taskId": "abc123"}],
        "denied": [{"taskId": APP1["taskId"]}],
    }
    assert answer["tasksTag"] == [APP3]
    assert answer["tasksCP"] == [APP2]


def test_a_disabled_task_is_denied_not_started(start_server: StartServer) -> None:
    tasks = demo_tasks()
    tasks[0]["enabled"] = False
    server = start_server({"butler": demo_butler()}, tasks=tasks)
    answer = start_json(server, APP1["taskId"], [by_tag("startTask1")])
    assert answer["tasksId"] == {
        "started": [],
        "invalid": [],
        "denied": [{"taskId": APP1["taskId"]}],
    }
    assert answer["tasksTag"] == [APP2, APP3]


def test_key_value_items_need_all_three_fields(butler_server: ServerProcess) -> None:
    ns = unique("ns")
    body = [
        {"type": "keyvaluestore", "payload": {"namespace": ns, "key": "empty", "value": ""}},
        {
            "type": "keyvaluestore",
            "payload": {"namespace": ns, "key": "k", "value": "v", "ttl": ""},
        },
        {
            "type": "keyvaluestore",
            "payload": {"namespace": ns, "key": "t", "value": 7, "ttl": "60000"},
        },
    ]
    start_json(butler_server, "-", body)
    keys = httpx.get(f"{butler_server.url}/v4/keylist/{ns}").json()["keys"]
    assert keys == [{"key": "k"}, {"key": "t"}]
    got = httpx.get(f"{butler_server.url}/v4/keyvalues/{ns}", params={"key": "t"}).json()
    assert got["value"] == "7"


def test_an_item_without_type_is_ignored_and_no_body_means_no_items(
    butler_server: ServerProcess,
) -> None:
    answer = start_json(butler_server, APP1["taskId"], [{"payload": {"taskId": APP2["taskId"]}}])
    assert answer["tasksId"]["started"] == [APP1]
    bare = httpx.put(f"{butler_server.url}/v4/reloadtask/{APP1['taskId']}/start")
    assert bare.status_code == 200
    assert bare.json()["tasksId"]["started"] == [APP1]


def test_bad_bodies_get_butlers_400(butler_server: ServerProcess) -> None:
    def put(body: bytes, query: str = "", content_type: str = "application/json") -> httpx.Response:
        return httpx.put(
            f"{butler_server.url}/v4/reloadtask/-/start{query}",
            content=body,
            headers={"Content-Type": content_type},
        )

    cases = [
        (b"{}", "body must be array"),
        (b'"text"', "body must be array"),
        (b"[1]", "body/0 must be object"),
        (
            b'[{"type": "starttaskfoo", "payload": {}}]',
            "body/0/type must be equal to one of the allowed values",
        ),
        (b'[{"type": "starttaskid"}]', "body/0 must have required property 'payload'"),
        (b'[{"type": "starttaskid", "payload": "x"}]', "body/0/payload must be object"),
        (
            b'[{"type": "starttaskid", "payload": {}}]',
            "body/0/payload must have required property 'taskId'",
        ),
        (
            b'[{"type": "keyvaluestore", "payload": '
            b'{"namespace": "n", "key": "k", "value": "v", "ttl": "later"}}]',
            "body/0/payload/ttl must be number",
        ),
    ]
    for body, message in cases:
        assert fastify_error(put(body), 400, message)["code"] == "FST_ERR_VALIDATION", body
    assert fastify_error(
        put(b"[]", "?allTaskIdsMustExist=maybe"),
        400,
        "querystring/allTaskIdsMustExist must be boolean",
    )
    empty = fastify_error(
        put(b""), 400, "Body cannot be empty when content-type is set to 'application/json'"
    )
    assert empty["code"] == "FST_ERR_CTP_EMPTY_JSON_BODY"
    broken = fastify_error(
        put(b"[{"), 400, "Body is not valid JSON but content-type is set to 'application/json'"
    )
    assert broken["code"] == "FST_ERR_CTP_INVALID_JSON_BODY"
    fastify_error(
        put(b"<x/>", content_type="application/xml"), 415, "Unsupported Media Type: application/xml"
    )
    missing = httpx.put(f"{butler_server.url}/v4/reloadtask//start", json=[])
    fastify_error(
        missing,
        400,
        'Required parameter (task ID) missing. Should be a task ID or "-" '
        "if task info is passed in body",
    )
    # Whatever came before, the door still works.
    assert put(b"[]").status_code == 200


def test_a_filter_without_ids_denies_every_id(start_server: StartServer) -> None:
    # Tags and properties listed, the id list empty: no id may start a task, whichever tags
    # the task carries (Butler's rule: an id starts only when it is on the id list).
    butler = demo_butler()
    butler["start_task_filter"] = {
        "enable": True,
        "allow_task": {
            "task_id": [],
            "tag": ["startTask1"],
            "custom_property": [{"name": "taskGroup", "value": "tasks1"}],
        },
    }
    server = start_server({"butler": butler}, tasks=demo_tasks())
    answer = start_json(server, APP1["taskId"], [by_id(APP2["taskId"]), by_tag("startTask1")])
    assert answer["tasksId"]["started"] == []
    assert answer["tasksId"]["denied"] == [{"taskId": APP1["taskId"]}, {"taskId": APP2["taskId"]}]
    # What the listed tag names still starts, and only that was saved.
    assert answer["tasksTag"] == [APP1, APP2, APP3]
    with server.client() as client:
        started = {e["task_id"] for e in list_executions(client, origin="butler")}
    assert started == {APP1["taskId"], APP2["taskId"], APP3["taskId"]}
    assert len(list_executions_of(server)) == 3


def list_executions_of(server: ServerProcess) -> list[dict[str, Any]]:
    with server.client() as client:
        return list_executions(client)
