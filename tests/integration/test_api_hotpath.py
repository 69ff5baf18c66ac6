"""A start and a wait answer alike whether the hot path (doors/api/hotpath.py) or the route
takes them: the hot path answers the plain case, the route everything else."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.support import QUICK_ID, TERMINAL, error_json, ok_json, start_one, wait_execution

START = "/api/v1/start"
BODY = json.dumps({"selectors": [f"id:{QUICK_ID}"]})


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "Application/JSON"],
)
def test_a_start_is_answered_whatever_its_json_content_type(
    client: httpx.Client, content_type: str
) -> None:
    response = client.post(START, content=BODY, headers={"Content-Type": content_type})
    answer = ok_json(response)
    assert response.headers["content-type"] == "application/json"
    assert answer["started"] == 1
    assert set(answer) == {"results", "executions", "started", "timed_out", "replayed"}
    execution = answer["executions"][0]
    assert wait_execution(client, execution["id"])["status"] in TERMINAL


def test_a_repeated_key_is_answered_as_the_first_time_and_said_so(client: httpx.Client) -> None:
    headers = {"Content-Type": "application/json", "Idempotency-Key": "hot-path-key-1"}
    first = client.post(START, content=BODY, headers=headers)
    again = client.post(START, content=BODY, headers=headers)
    assert "Idempotency-Replayed" not in first.headers
    assert again.headers["Idempotency-Replayed"] == "true"
    assert ok_json(again)["executions"] == ok_json(first)["executions"]
    assert ok_json(again)["replayed"] is True


@pytest.mark.parametrize(
    ("body", "headers", "status", "error"),
    [
        ("{not json", {}, 400, "bad_request"),
        ("", {}, 400, "bad_request"),
        ("null", {}, 422, "invalid"),
        (json.dumps({"selectors": []}), {}, 422, "invalid"),
        (json.dumps({"selectors": ["x"], "surprise": 1}), {}, 422, "invalid"),
        (BODY, {"Idempotency-Key": "k" * 201}, 422, "invalid"),
    ],
)
def test_a_start_refused_is_refused_as_before(
    client: httpx.Client, body: str, headers: dict[str, str], status: int, error: str
) -> None:
    response = client.post(
        START, content=body, headers={"Content-Type": "application/json", **headers}
    )
    error_json(response, status, error)


@pytest.mark.parametrize("content_type", [None, "text/plain"])
def test_a_start_that_does_not_say_it_is_json_is_refused(
    client: httpx.Client, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post(START, content=BODY.encode(), headers=headers)
    error_json(response, 422, "invalid")


@pytest.mark.parametrize(
    "query", ["", "?timeout=30", "?timeout=0.5", "?timeout=30&timeout=20", "?timeout=30&x=1"]
)
def test_a_wait_is_answered_with_its_timeout_however_it_is_written(
    client: httpx.Client, query: str
) -> None:
    execution_id = start_one(client, QUICK_ID)
    waited = ok_json(client.get(f"/api/v1/executions/{execution_id}/wait{query}"))
    assert waited["id"] == execution_id
    assert waited["status"] in TERMINAL
    assert waited["timed_out"] is False


@pytest.mark.parametrize("query", ["?timeout=abc", "?timeout=3601", "?timeout=-1"])
def test_a_wait_with_a_bad_timeout_is_refused(client: httpx.Client, query: str) -> None:
    execution_id = start_one(client, QUICK_ID)
    error_json(client.get(f"/api/v1/executions/{execution_id}/wait{query}"), 422, "invalid")


def test_a_wait_for_an_unknown_execution_is_not_found(client: httpx.Client) -> None:
    error_json(client.get("/api/v1/executions/no-such-execution/wait?timeout=1"), 404, "not_found")
