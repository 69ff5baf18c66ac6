"""An execution's history over the API (GET /api/v1/executions/{id}/events): told from what
the store keeps of a run that failed, was retried and succeeded; of an aborted one; of a
chained start and the end that fired it; of broken checks; of webhook deliveries; of a
workflow's members."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerFactory, ServerProcess
from tests.integration.test_webhooks import Receiver
from tests.support import (
    ALLOW,
    DIR_PARAM,
    FLAKY_CODE,
    QUICK_CODE,
    SLOW_CODE,
    abort,
    error_json,
    ok_json,
    py_task,
    start_one,
    wait_execution,
    wait_status,
    wait_until,
)

TASKS: list[dict[str, Any]] = [
    py_task(
        "Flaky",
        FLAKY_CODE,
        label="flaky",
        concurrency=ALLOW,
        params=[DIR_PARAM, {"name": "fail_times", "type": "int", "default": 0}],
        retries={"count": 2, "delay": 0},
    ),
    py_task("Slow", SLOW_CODE, label="slow", concurrency=ALLOW, params=[DIR_PARAM]),
    py_task("First", QUICK_CODE, label="first", concurrency=ALLOW),
    py_task("After first", QUICK_CODE, label="after", concurrency=ALLOW),
    py_task(
        "Too quick", QUICK_CODE, label="tooquick", concurrency=ALLOW, checks={"min_duration": 60}
    ),
    py_task(
        "Warned",
        QUICK_CODE,
        label="warned",
        concurrency=ALLOW,
        checks={"min_duration": {"seconds": 60, "on_violation": "warn"}},
    ),
    py_task("Hooked", QUICK_CODE, label="hooked", concurrency=ALLOW),
]
CHAINS = [{"id": "first-then-after", "when": [{"task": "label:first"}], "start": "label:after"}]


@pytest.fixture(scope="module")
def history_server(_module_servers: ServerFactory) -> ServerProcess:
    return _module_servers({"chains": CHAINS}, tasks=TASKS)


@pytest.fixture
def api(history_server: ServerProcess) -> Iterator[httpx.Client]:
    with history_server.client() as client:
        yield client


def events_of(api: httpx.Client, execution_id: str) -> list[dict[str, Any]]:
    answer = ok_json(api.get(f"/api/v1/executions/{execution_id}/events"))
    assert answer["execution_id"] == execution_id
    events: list[dict[str, Any]] = answer["events"]
    ats = [e["at"] for e in events]
    assert ats == sorted(ats), "oldest first"
    return events


def steps(events: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
    return [(e["kind"], e["status"], e["attempt"]) for e in events]


def test_a_run_that_failed_was_retried_and_succeeded(api: httpx.Client, tmp_path: Path) -> None:
    execution_id = start_one(api, "label:flaky", {"dir": str(tmp_path), "fail_times": 1})
    done = wait_execution(api, execution_id)
    assert done["status"] == "finished_success" and done["attempt_count"] == 2
    events = events_of(api, execution_id)
    assert steps(events) == [
        ("status", "queued", 0),
        ("status", "started", 1),
        ("status", "retry", 1),
        ("status", "started", 2),
        ("status", "finished_success", 2),
    ]
    made, _, retry, _, end = events
    assert made["by"] == done["caller"] and made["origin"] == "api"
    assert retry["exit_code"] == 1 and "retry 1 of 2" in retry["message"]
    assert end["end_reason"] == "completed" and end["exit_code"] == 0
    assert {e["execution_id"] for e in events} == {execution_id}


def test_an_abort_names_who_asked(api: httpx.Client, tmp_path: Path) -> None:
    execution_id = start_one(api, "label:slow", {"dir": str(tmp_path)})
    wait_status(api, execution_id, "started")
    abort(api, execution_id)
    done = wait_execution(api, execution_id)
    assert done["status"] == "aborted"
    events = events_of(api, execution_id)
    assert steps(events) == [
        ("status", "queued", 0),
        ("status", "started", 1),
        ("status", "abort_initiated", 1),
        ("status", "aborted", 1),
    ]
    asked, end = events[2], events[3]
    assert asked["by"] == done["aborted_by"] and asked["by"]
    assert end["end_reason"] == "aborted" and end["by"] == done["aborted_by"]


def test_a_chain_shows_on_both_runs(api: httpx.Client) -> None:
    first = start_one(api, "label:first")
    wait_execution(api, first)
    fired = wait_until(
        lambda: [e for e in events_of(api, first) if e["kind"] == "chain_fired"],
        what="the chain rule's firing in the first run's history",
    )
    assert len(fired) == 1 and fired[0]["chain_id"] == "first-then-after"
    [after] = fired[0]["execution_ids"]
    assert steps(events_of(api, first))[-2:] == [
        ("status", "finished_success", 1),
        ("chain_fired", "finished_success", 1),
    ]
    made = events_of(api, after)[0]
    assert made["status"] == "queued" and made["origin"] == "chain"
    assert made["chain_id"] == "first-then-after" and made["execution_ids"] == [first]


def test_broken_checks_are_in_the_history(api: httpx.Client) -> None:
    failed = start_one(api, "label:tooquick")
    assert wait_execution(api, failed)["status"] == "finished_fail"
    events = events_of(api, failed)
    assert steps(events)[-2:] == [
        ("status", "finished_fail", 1),
        ("check_violated", "finished_fail", 1),
    ]
    assert events[-2]["end_reason"] == "check_failed"
    assert events[-1]["check"]["on_violation"] == "fail"
    assert events[-1]["message"].startswith("check failed: ")

    warned = start_one(api, "label:warned")
    assert wait_execution(api, warned)["status"] == "finished_success"
    last = events_of(api, warned)[-1]
    assert last["kind"] == "check_violated"
    assert last["check"]["check"] == "min_duration" and last["check"]["on_violation"] == "warn"


def test_webhook_deliveries_are_in_the_history(api: httpx.Client) -> None:
    receiver = Receiver()
    hook: dict[str, Any] = {}
    try:
        hook = ok_json(
            api.post(
                "/api/v1/webhooks",
                json={
                    "url": receiver.url,
                    "secret": "a-secret-of-some-length",
                    "tasks": ["hooked"],
                    "statuses": ["finished_success"],
                },
            ),
            201,
        )
        execution_id = start_one(api, "label:hooked")
        wait_execution(api, execution_id)
        receiver.next()

        def delivered() -> list[dict[str, Any]]:
            return [
                e
                for e in events_of(api, execution_id)
                if e["kind"] == "webhook" and e["delivery"]["state"] == "delivered"
            ]

        [event] = wait_until(delivered, what="the delivery recorded as delivered")
        assert event["status"] == "finished_success"
        assert event["delivery"]["webhook_id"] == hook["id"]
        assert event["delivery"]["attempts"] == 1 and event["delivery"]["last_status_code"] == 200
    finally:
        if hook:
            api.delete(f"/api/v1/webhooks/{hook['id']}")
        receiver.close()


def test_a_workflows_history_has_its_members(api: httpx.Client) -> None:
    answer = ok_json(
        api.post(
            "/api/v1/workflows/run", json={"phases": [["label:first"], ["label:after"]], "wait": 60}
        )
    )
    assert answer["status"] == "finished_success", answer
    members = {c["id"]: c for c in answer["children"]}
    events = events_of(api, answer["id"])
    theirs = [e for e in events if e["execution_id"] != answer["id"]]
    assert {e["execution_id"] for e in theirs} == set(members)
    for member_id, member in members.items():
        mine = [(e["status"], e["member"]) for e in theirs if e["execution_id"] == member_id]
        assert mine == [
            ("queued", member["member"]),
            ("started", member["member"]),
            ("finished_success", member["member"]),
        ]
    # A member's own history names the workflow it ran for.
    made = events_of(api, next(iter(members)))[0]
    assert made["execution_ids"] == [answer["id"]] and made["phase"] == 1


def test_an_unknown_execution_has_no_history(api: httpx.Client) -> None:
    body = error_json(api.get("/api/v1/executions/no-such-run/events"), 404, "not_found")
    assert "execution" in body["message"]
