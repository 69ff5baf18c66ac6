"""The doors outside the OpenAPI document, fed Hypothesis's inputs over a live server: Butler
/v4 bodies and QRS filters get the door's own 4xx or an answer, never a 5xx, and the server
logs no unexpected error (issue 20; the parsers' own properties: tests/properties/)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ServerFactory, ServerProcess
from tests.fuzzing import log_problems
from tests.properties.test_door_inputs import butler_bodies, json_values, qrs_texts
from tests.support import STANDARD_TASKS

LIVE = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
QRS_KEY = "abcdefghijklmnop"
QRS_HEADERS = {"X-Qlik-Xrfkey": QRS_KEY, "X-Qlik-User": "UserDirectory=X; UserId=y"}


@pytest.fixture(scope="module")
def doors_server(_module_servers: ServerFactory) -> ServerProcess:
    open_here = {"enabled": True, "open_to": ["127.0.0.1/32"]}
    return _module_servers({"butler": open_here, "qrs": open_here}, tasks=STANDARD_TASKS)


@pytest.fixture(scope="module")
def http(doors_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=doors_server.url, timeout=30) as client:
        yield client
    assert log_problems(doors_server.log_text()) == []


def encoded(body: Any) -> bytes:
    return json.dumps(body).encode("utf-8", "surrogatepass")


def test_butler_bodies(http: httpx.Client) -> None:
    @LIVE
    @given(butler_bodies, st.sampled_from(["-", "0b7b1c50-6a47-4d63-9a55-6f0b6c1a0001", "x"]))
    def start(body: Any, task_id: str) -> None:
        answer = http.put(
            f"/v4/reloadtask/{task_id}/start",
            content=encoded(body),
            headers={"Content-Type": "application/json"},
        )
        assert answer.status_code < 500, answer.text

    @LIVE
    @given(json_values, st.text(min_size=1, max_size=20))
    def key_value(body: Any, namespace: str) -> None:
        answer = http.post(
            f"/v4/keyvalues/{quote(namespace, safe='', errors='surrogatepass')}",
            content=encoded(body),
            headers={"Content-Type": "application/json"},
        )
        assert answer.status_code < 500, answer.text

    start()
    key_value()


def test_qrs_filters(http: httpx.Client) -> None:
    @LIVE
    @given(qrs_texts, st.sampled_from(["task", "reloadtask/full", "executionresult"]))
    def listing(text: str, path: str) -> None:
        params = {"filter": text, "orderby": text, "Xrfkey": QRS_KEY}
        answer = http.get(f"/qrs/{path}", params=params, headers=QRS_HEADERS)
        assert answer.status_code < 500, answer.text

    listing()
