"""Bad input gets a clear JSON 4xx answer, and the server stays up."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import ServerFactory, ServerProcess
from tests.support import QUICK_CODE, STANDARD_TASKS, error_json, ok_json, py_task, unique

MAX_BODY = 4096


@pytest.fixture(scope="module")
def small_server(_module_servers: ServerFactory) -> ServerProcess:
    """A server with a small body limit (and the standard tasks)."""
    return _module_servers({"server": {"max_body_bytes": MAX_BODY}}, tasks=STANDARD_TASKS)


@pytest.fixture
def small(small_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=small_server.url, timeout=30) as http:
        yield http
    # Whatever the test sent, the server is still serving.
    with httpx.Client(base_url=small_server.url, timeout=30) as http:
        assert ok_json(http.get("/healthz")) == {"status": "ok"}
        assert ok_json(http.get("/readyz")) == {"status": "ready"}


JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    "body",
    [b"{not json", b'{"selectors": ["label:quick"]', b"", b"\xff\xfe\x00garbage", b"[1, 2,"],
)
def test_malformed_json_is_400(small: httpx.Client, body: bytes) -> None:
    error_json(small.post("/api/v1/start", content=body, headers=JSON), 400, "bad_request")
    error_json(small.post("/api/v1/tasks", content=body, headers=JSON), 400, "bad_request")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"selectors": "label:quick"}, "body.selectors"),
        ({"selectors": [1, 2]}, "body.selectors.0"),
        ({"selectors": ["label:quick"], "params": []}, "body.params"),
        ({"selectors": ["label:quick"], "all_must_exist": "perhaps"}, "body.all_must_exist"),
        ({"selectors": ["label:quick"], "surprise": 1}, "body.surprise"),
    ],
)
def test_wrong_types_are_422(small: httpx.Client, body: object, field: str) -> None:
    answer = error_json(small.post("/api/v1/start", json=body), 422, "invalid")
    assert answer["field"] == field, answer


def test_body_of_wrong_shape_is_422(small: httpx.Client) -> None:
    error_json(small.post("/api/v1/start", json=["label:quick"]), 422, "invalid")
    error_json(small.post("/api/v1/tasks", json="a task"), 422, "invalid")


def test_missing_selectors_is_422(small: httpx.Client) -> None:
    answer = error_json(small.post("/api/v1/start", json={}), 422, "invalid")
    assert answer["field"] == "body.selectors", answer


def test_oversized_body_is_413(small: httpx.Client) -> None:
    big = {"selectors": ["label:quick"], "params": {"blob": "x" * (MAX_BODY * 4)}}
    error_json(small.post("/api/v1/start", json=big), 413, "too_large")
    task = py_task("Big", QUICK_CODE, label=unique("big"), description="y" * (MAX_BODY * 2))
    error_json(small.post("/api/v1/tasks", json=task), 413, "too_large")
    # Nothing was created.
    error_json(small.get(f"/api/v1/tasks/{task['label']}"), 404, "not_found")


def test_oversized_chunked_body_is_413(small: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"selectors": ["label:quick"], "params": {"blob": "'
        for _ in range(8):
            yield b"z" * MAX_BODY
        yield b'"}}'

    response = small.post("/api/v1/start", content=chunks(), headers=JSON)
    error_json(response, 413, "too_large")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/nothing-here"),
        ("GET", "/nothing-here"),
        ("POST", "/api/v1/tasks/quick/explode"),
        ("GET", "/api/v2/tasks"),
    ],
)
def test_unknown_route_is_404_json(small: httpx.Client, method: str, path: str) -> None:
    error_json(small.request(method, path), 404, "not_found")


def test_wrong_method_is_a_json_error(small: httpx.Client) -> None:
    response = small.request("PATCH", "/api/v1/start")
    assert response.status_code in (404, 405), response.text
    assert response.json()["error"]


def test_good_requests_still_work_after_bad_ones(small: httpx.Client) -> None:
    for body in (b"{", b"\x00" * 100, b'{"selectors": null}'):
        small.post("/api/v1/start", content=body, headers=JSON)
    answer = ok_json(small.post("/api/v1/start", json={"selectors": ["label:quick"], "wait": 30}))
    assert answer["executions"][0]["status"] == "finished_success"
