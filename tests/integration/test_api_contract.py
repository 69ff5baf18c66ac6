"""The native API says what it does (issue 20): the OpenAPI description declares the errors it
answers, OPTIONS and 405 name every method of a path, a replayed start says so, a start by
tag names the matched tasks the key may not start, and key-value namespaces are plain names."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import ServerProcess, StartServer
from tests.support import (
    SEL_A_ID,
    SEL_B_ID,
    STANDARD_TASKS,
    error_json,
    ok_json,
    parse_secret,
    unique,
)


def test_openapi_declares_the_errors(client: httpx.Client) -> None:
    schema = ok_json(client.get("/openapi.json"))
    paths = schema["paths"]
    get_task = paths["/api/v1/tasks/{ref}"]["get"]["responses"]
    assert {"401", "403", "404", "422"} <= set(get_task)
    create = paths["/api/v1/tasks"]["post"]["responses"]
    assert {"400", "409", "413", "422"} <= set(create)
    error_ref = {"$ref": "#/components/schemas/ErrorBody"}
    assert create["422"]["content"]["application/json"]["schema"] == error_ref
    assert "HTTPValidationError" not in schema["components"]["schemas"]


@pytest.mark.parametrize(
    ("path", "methods"),
    [
        ("/api/v1/tasks/x", {"GET", "PUT", "DELETE", "OPTIONS"}),
        ("/api/v1/kv/ns/a/b", {"GET", "PUT", "DELETE", "OPTIONS"}),
        ("/api/v1/executions/x/abort", {"POST", "OPTIONS"}),
    ],
)
def test_options_and_405_name_every_method(
    client: httpx.Client, path: str, methods: set[str]
) -> None:
    options = client.options(path)
    assert options.status_code == 204, options.text
    assert set(options.headers["allow"].split(", ")) == methods
    patch = client.patch(path, json={})
    error_json(patch, 405, "method_not_allowed")
    assert set(patch.headers["allow"].split(", ")) == methods


def test_a_replayed_start_says_so(client: httpx.Client) -> None:
    key = {"Idempotency-Key": unique("replay")}
    body = {"selectors": ["label:quick"]}
    first = client.post("/api/v1/start", json=body, headers=key)
    assert ok_json(first)["replayed"] is False
    assert "idempotency-replayed" not in first.headers
    again = client.post("/api/v1/start", json=body, headers=key)
    answer = ok_json(again)
    assert answer["replayed"] is True
    assert again.headers["idempotency-replayed"] == "true"
    assert answer["executions"] == first.json()["executions"]
    by_task = client.post("/api/v1/tasks/quick/start", json={}, headers=key)
    error_json(by_task, 409, "conflict")  # the same key for another request


@pytest.mark.parametrize("namespace", ["%2E%2E", ".hidden", "a%20b", "a%3Bb"])
def test_the_native_api_writes_plain_namespaces_only(client: httpx.Client, namespace: str) -> None:
    answer = error_json(
        client.put(f"/api/v1/kv/{namespace}/key", json={"value": "v"}), 422, "invalid"
    )
    assert answer["field"] == "path.namespace", answer
    ok_json(client.put(f"/api/v1/kv/{unique('ns')}.v1_x/key", json={"value": "v"}))


def _key(server: ServerProcess, *extra: str) -> str:
    output = server.cli("keys", "create", "--name", unique("k"), "--role", "operator", *extra)
    return parse_secret(output)


def test_a_start_names_the_tasks_the_key_may_not_start(start_server: StartServer) -> None:
    server = start_server({"auth": "keys"}, tasks=STANDARD_TASKS)
    secret = _key(server, "--allow-task", SEL_A_ID)
    with server.client(headers={"Authorization": f"Bearer {secret}"}) as client:
        answer: dict[str, Any] = ok_json(
            client.post("/api/v1/start", json={"selectors": ["tag:alpha", "tag:beta"]})
        )
    alpha, beta = answer["results"]
    assert alpha["outcome"] == "matched"
    assert [t["task_id"] for t in alpha["tasks"]] == [SEL_A_ID]
    assert alpha["denied_task_ids"] == [SEL_B_ID]
    assert beta["outcome"] == "denied"
    assert len(beta["denied_task_ids"]) == 1
    assert answer["started"] == 1
