"""The `qlik` runner against a scripted site: what it asks, what it logs, how it ends."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from taskgate.domain.status import Status
from taskgate.engine.actions.qlik import QlikAction, QlikOutcome, run_qlik
from taskgate.engine.logcollector import LogCollector
from taskgate.qlik.client import QlikSites
from taskgate.qlik.settings import QlikSettings
from tests.qlik.fake_site import RESULT_ID, SESSION_ID, TASK_ID, FakeSite, detail, query, result

ACTION = QlikAction(site="prod", task_id=uuid.UUID(TASK_ID))
FAST = {
    "poll_min_seconds": 0.01,
    "poll_max_seconds": 0.02,
    "unreachable_limit_seconds": 0.3,
    "stop_wait_seconds": 2,
}


def run(
    site: FakeSite,
    *,
    timeout: float | None = None,
    abort_after: float | None = None,
    **settings: Any,
) -> tuple[QlikOutcome, str]:
    async def go() -> tuple[QlikOutcome, str]:
        qlik = QlikSettings.model_validate(
            {"sites": [{"name": "prod", "host": "qlik.example.com", **FAST, **settings}]}
        )
        sites = QlikSites(qlik, site.transport())
        abort = asyncio.Event()
        if abort_after is not None:
            asyncio.get_running_loop().call_later(abort_after, abort.set)
        log = LogCollector(1_000_000)
        try:
            outcome = await run_qlik(ACTION, sites, timeout=timeout, abort=abort, log=log)
        finally:
            await sites.aclose()
        return outcome, log.take()

    return asyncio.run(go())


def started(*details: dict[str, Any]) -> dict[str, Any]:
    return result(2, *details)


TRIGGERED = detail("Changing task state from Triggered to Started", 1)
RELOADING = detail("Reloading app", 2)


def test_success_follows_the_run_and_copies_each_message_once() -> None:
    site = FakeSite(
        polls=[started(TRIGGERED), started(TRIGGERED), started(TRIGGERED, RELOADING)],
        results=[result(7, TRIGGERED, RELOADING, detail("Done", 3))],
        script_log="line 1\r\nline 2\r\n",
    )
    outcome, log = run(site)
    assert outcome.status is Status.FINISHED_SUCCESS, (outcome, log)
    assert outcome.message == "FinishedSuccess on site prod"
    assert outcome.result == {
        "site": "prod",
        "task_id": TASK_ID,
        "session_id": SESSION_ID,
        "result_ids": [RESULT_ID],
        "remote_status": 7,
        "remote_status_name": "FinishedSuccess",
        "stopped": None,
    }
    assert log.count("Changing task state from Triggered to Started") == 1
    assert "[prod 2026-12-02T01:00:01.000Z] Changing task state" in log
    assert log.index("Triggered to Started") < log.index("Reloading app") < log.index("Done")
    assert "line 1\nline 2\n" in log
    assert site.paths()[0] == f"POST /qrs/task/{TASK_ID}/start/synchronous"
    assert f"GET /qrs/executionsession/{SESSION_ID}" in site.paths()
    outcome_query = query(site.requests[site.paths().index("GET /qrs/executionresult/full")])
    assert outcome_query["filter"] == [f"executionID eq {SESSION_ID}"]
    assert outcome_query["orderby"] == ["startTime desc"]


def test_every_request_carries_the_xrfkey_twice_and_the_user() -> None:
    site = FakeSite(polls=[started()], results=[result(7)])
    run(site, virtual_proxy="hdr", user_directory="CORP", user_id="svc")
    keys = set()
    for request in site.requests:
        assert request.url.path.startswith("/hdr/qrs/")
        [key] = query(request)["Xrfkey"]
        assert request.headers["X-Qlik-Xrfkey"] == key
        assert request.headers["X-Qlik-User"] == "UserDirectory=CORP; UserId=svc"
        keys.add(key)
    assert len(keys) == len(site.requests)  # a new key per request


def test_failure_reports_the_remote_error_message() -> None:
    site = FakeSite(
        polls=[started(TRIGGERED)],
        results=[result(8, TRIGGERED, detail("Script error: table not found", 4, kind=0))],
    )
    outcome, log = run(site)
    assert outcome.status is Status.FINISHED_FAIL
    assert outcome.message == "FinishedFail on site prod: Script error: table not found"
    assert "error: Script error: table not found" in log
    assert "no script log on site prod (HTTP 404" in log


def test_empty_guid_means_the_task_did_not_start() -> None:
    site = FakeSite(start=(201, {"value": "00000000-0000-0000-0000-000000000000"}))
    outcome, log = run(site)
    assert outcome.status is Status.ERROR
    assert "did not start on site prod" in outcome.message
    assert "disabled" in outcome.message
    assert outcome.message in log


def test_unknown_task() -> None:
    outcome, _ = run(FakeSite(start=(404, None)))
    assert outcome.status is Status.ERROR
    assert outcome.message == f"no such task on site prod: {TASK_ID}"


def test_a_site_that_is_not_configured() -> None:
    async def go() -> QlikOutcome:
        log = LogCollector(1000)
        action = QlikAction(site="gone", task_id=uuid.UUID(TASK_ID))
        return await run_qlik(action, None, timeout=None, abort=asyncio.Event(), log=log)

    outcome = asyncio.run(go())
    assert outcome.status is Status.ERROR
    assert "no Qlik Sense site named 'gone'" in outcome.message


def test_outages_while_following_are_ridden_out_and_logged_once() -> None:
    site = FakeSite(
        polls=[started(TRIGGERED), started(TRIGGERED)],
        results=[result(7, TRIGGERED)],
        outages={"/executionsession/": ["connect", "connect", "connect", 503, "timeout"]},
    )
    outcome, log = run(site, unreachable_limit_seconds=30)
    assert outcome.status is Status.FINISHED_SUCCESS, (outcome, log)
    assert log.count("cannot connect") == 1
    assert "HTTP 503" in log
    assert "site prod answers again after" in log


def test_a_site_away_longer_than_the_limit_ends_the_run_as_error() -> None:
    site = FakeSite(polls=[started()], outages={"/executionsession/": ["connect"] * 1000})
    outcome, log = run(site, unreachable_limit_seconds=0.2)
    assert outcome.status is Status.ERROR
    assert outcome.message.startswith("site prod unreachable for more than 0.2s")
    assert log.count("trying again") == 1


def test_a_start_that_may_have_arrived_is_not_sent_again() -> None:
    site = FakeSite(outages={"/start/synchronous": ["timeout"]})
    outcome, _ = run(site, unreachable_limit_seconds=30)
    assert outcome.status is Status.ERROR
    assert "not sent again" in outcome.message
    assert site.paths().count(f"POST /qrs/task/{TASK_ID}/start/synchronous") == 1


def test_a_start_that_did_not_arrive_is_sent_again() -> None:
    site = FakeSite(
        polls=[started()], results=[result(7)], outages={"/start/synchronous": ["connect", 503]}
    )
    outcome, _ = run(site, unreachable_limit_seconds=30)
    assert outcome.status is Status.FINISHED_SUCCESS
    assert site.paths().count(f"POST /qrs/task/{TASK_ID}/start/synchronous") == 3


def test_abort_stops_the_remote_run_and_follows_it_to_its_end() -> None:
    aborting = result(5, TRIGGERED, detail("Abort initiated", 5))
    site = FakeSite(
        polls=[started(TRIGGERED), aborting],
        stop_ends=True,
        results=[result(6, TRIGGERED, detail("Task aborted", 6))],
    )
    outcome, log = run(site, abort_after=0.2)
    assert site.stopped
    assert outcome.status is Status.ABORTED, (outcome, log)
    assert outcome.result is not None
    assert outcome.result["remote_status"] == 6
    assert outcome.result["stopped"] == "abort"
    assert outcome.message == "aborted; the run on site prod was stopped (Aborted)"
    assert "abort asked: stopping the run on site prod" in log
    assert "Task aborted" in log


def test_timeout_stops_the_remote_run_and_ends_as_error() -> None:
    site = FakeSite(polls=[started(TRIGGERED)], stop_ends=True, results=[result(6)])
    outcome, _ = run(site, timeout=0.2)
    assert site.stopped
    assert outcome.status is Status.ERROR
    assert outcome.message == "timed out after 0.2s; the run on site prod was stopped (Aborted)"


def test_a_remote_run_that_does_not_end_after_the_stop() -> None:
    site = FakeSite(polls=[started(TRIGGERED)], stop_ends=True, stop_works=False)
    outcome, _ = run(site, abort_after=0.05, stop_wait_seconds=0.3)
    assert outcome.status is Status.ABORTED
    assert "had not ended 0.3s after the stop" in outcome.message


def test_remote_retries_give_several_results_and_the_newest_decides() -> None:
    second = "7e577e57-0000-4000-8000-00000000cccc"
    site = FakeSite(
        polls=[result(2, TRIGGERED), result(2, detail("retrying", 8), rid=second)],
        results=[
            result(7, detail("retrying", 8), rid=second),
            result(8, TRIGGERED, detail("failed once", 7, kind=0)),
        ],
    )
    outcome, log = run(site)
    assert outcome.status is Status.FINISHED_SUCCESS
    assert outcome.result is not None
    assert outcome.result["result_ids"] == [RESULT_ID, second]
    assert f"remote attempt 2 (execution result {second})" in log
    assert "failed once" in log
