"""Sequences through a real server: saved (422 naming the place), run, logged, egress-checked."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import ServerProcess, StartServer
from tests.sequence_support import ApiServer, serve_api
from tests.support import create_task, error_json, read_log, start_one, unique, wait_execution


@pytest.fixture
def api() -> Iterator[ApiServer]:
    yield from serve_api()


@pytest.fixture
def seq_server(start_server: StartServer) -> ServerProcess:
    return start_server({"egress": {"allowed_hosts": ["127.0.0.1"]}})


def _task(requests: list[dict[str, Any]], **action: Any) -> dict[str, Any]:
    return {
        "name": unique("seq"),
        "label": unique("seq"),
        "action": {"kind": "sequence", "requests": requests, **action},
    }


def test_a_sequence_runs_logs_each_step_and_keeps_persistence_as_result(
    seq_server: ServerProcess, api: ApiServer
) -> None:
    with seq_server.client() as client:
        task = create_task(
            client,
            _task(
                [
                    {"method": "POST", "api": "{{#.base}}/login", "save_to": "login"},
                    {"method": "GET", "api": "{{#.base}}/items/{{#.n}}", "save_to": "item"},
                ],
                persistence={"base": api.base, "n": 1},
            ),
        )
        execution = wait_execution(client, start_one(client, task["label"], {"n": 2}))
        assert execution["status"] == "finished_success", execution
        assert execution["result"] == {
            "base": api.base,
            "n": 2,
            "login": {"token": "t-1"},
            "item": {"id": 2, "name": "item 2"},
        }
        log = read_log(client, execution["id"])
        assert f"GET {api.base}/items/2 -> 200 in " in log


def test_a_bad_sequence_is_refused_with_422_naming_the_path(seq_server: ServerProcess) -> None:
    with seq_server.client() as client:
        body = _task(
            [
                {
                    "method": "GET",
                    "api": "http://x",
                    "__def_loop__": {
                        "by": "$.data",
                        "filter": [{"by": "$.a", "condition": {"like": 1}}],
                        "requests": [{"method": "GET", "api": "y"}],
                    },
                }
            ]
        )
        answer = error_json(client.post("/api/v1/tasks", json=body), 422, "invalid")
        assert "requests.0.__def_loop__.filter" in answer["field"], answer
        assert "like" in answer["message"], answer


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:{port}/items/1",  # a name not on the list (it resolves to loopback)
        "http://169.254.169.254/latest/meta-data/",  # metadata: never
    ],
)
def test_hosts_off_the_list_are_refused(
    seq_server: ServerProcess, api: ApiServer, url: str
) -> None:
    port = api.base.rsplit(":", 1)[1]
    with seq_server.client() as client:
        task = create_task(client, _task([{"method": "GET", "api": url.format(port=port)}]))
        execution = wait_execution(client, start_one(client, task["label"]))
        assert execution["status"] == "finished_fail", execution
        assert "refused" in execution["message"], execution
    assert api.seen == []


def test_link_local_is_refused_even_when_allowed_by_name(
    start_server: StartServer, api: ApiServer
) -> None:
    server = start_server({"egress": {"allowed_hosts": ["169.254.0.0/16", "127.0.0.1"]}})
    with server.client() as client:
        task = create_task(client, _task([{"method": "GET", "api": "http://169.254.169.254/x"}]))
        execution = wait_execution(client, start_one(client, task["label"]))
        assert execution["status"] == "finished_fail", execution
        assert "link-local" in execution["message"], execution


def test_an_empty_allow_list_allows_nothing(start_server: StartServer, api: ApiServer) -> None:
    server = start_server()
    with server.client() as client:
        task = create_task(client, _task([{"method": "GET", "api": f"{api.base}/items/1"}]))
        execution = wait_execution(client, start_one(client, task["label"]))
        assert execution["status"] == "finished_fail", execution
        # the task's own allowed_hosts opens it
        task = create_task(
            client,
            _task([{"method": "GET", "api": f"{api.base}/items/1"}], allowed_hosts=["127.0.0.1"]),
        )
        execution = wait_execution(client, start_one(client, task["label"]))
        assert execution["status"] == "finished_success", execution
    assert len(api.seen) == 1


def test_secret_values_are_write_only_and_hidden_in_log_request_and_result(
    seq_server: ServerProcess, api: ApiServer
) -> None:
    namespace = unique("ns")
    secret = "s3cr3t-value-42"
    with seq_server.client() as client:
        stored = client.put(f"/api/v1/kv/{namespace}/token", json={"value": secret, "secret": True})
        assert stored.status_code == 200, stored.text
        assert stored.json()["value"] == "***" and stored.json()["secret"] is True
        assert client.get(f"/api/v1/kv/{namespace}/token").json()["value"] == "***"
        assert client.get(f"/api/v1/kv/{namespace}").json()["items"][0]["value"] == "***"
        task = create_task(
            client,
            {
                **_task(
                    [
                        {
                            "method": "POST",
                            "api": f"{api.base}/echo/{{{{kv.{namespace}.token}}}}",
                            "header": {"Authorization": "token {{kv." + namespace + ".token}}"},
                            "save_to": "answer",
                            "save_req_to": "request",
                        }
                    ]
                ),
                "kv_namespaces": [namespace],
            },
        )
        execution = wait_execution(client, start_one(client, task["label"]))
        assert execution["status"] == "finished_success", execution
        log = read_log(client, execution["id"])
    assert api.seen[0]["headers"]["authorization"] == f"token {secret}"  # really sent
    shown = json.dumps(execution)
    assert secret not in shown and secret not in log
    assert execution["result"]["request"]["header"]["Authorization"] == "token ***"
    assert execution["result"]["answer"]["path"] == "/echo/***"
    assert "/echo/*** -> 200" in log
