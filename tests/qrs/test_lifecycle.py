"""A run seen through QRS's sessions and results: retries, timeout, results by id, logs."""

from __future__ import annotations

from tests.qrs.conftest import RETRY_ID, SLOW_ID, TIMEOUT_ID, QrsClient
from tests.qrs.test_tasks import run_to_end
from tests.support import QUICK_ID, wait_until


def test_retries_give_one_result_per_attempt_under_one_session(qrs: QrsClient) -> None:
    session = qrs.post(f"/task/{RETRY_ID}/start/synchronous").json()["value"]
    newest_first = run_to_end(qrs, session)
    assert [r["status"] for r in newest_first] == [8, 8, 8]
    assert {r["executionID"] for r in newest_first} == {session}
    assert len({r["id"] for r in newest_first}) == 3
    starts = [r["startTime"] for r in newest_first]
    assert starts == sorted(starts, reverse=True)
    # The condensed form (what `executionresult?filter=ExecutionId eq` returns) has no ids
    # of task or execution, as in QRS.
    condensed = qrs.json("/executionresult", filter=f"ExecutionId eq {session}")
    assert len(condensed) == 3
    assert "executionID" not in condensed[0]
    assert qrs.json("/executionresult/count", filter=f"executionid eq {session}") == {"value": 3}
    first = min(newest_first, key=lambda r: r["startTime"])
    messages = [d["message"] for d in first["details"]]
    assert messages[0].startswith("Task triggered by qrs:INTERNAL\\sa_api")
    assert "Changing task state from Queued to Started" in messages
    assert "Changing task state from Started to FinishedFail" in messages
    error_details = [d for d in first["details"] if d["detailsType"] == 0]
    assert error_details and "exit" in error_details[0]["message"]


def test_timeout_ends_aborted_as_in_qrs(qrs: QrsClient) -> None:
    # Qlik Sense aborts a task past its session timeout (6 Aborted, abortReason 2 Timeout);
    # qsAPI and Qlik-Cli scripts poll the result's status for it. taskgate's own status is
    # `error` with end_reason `timeout` (the one table in domain/status.py).
    session = qrs.post(f"/task/{TIMEOUT_ID}/start/synchronous").json()["value"]
    (result,) = run_to_end(qrs, session)
    assert result["status"] == 6
    assert "Changing task state from Started to Aborted" in [
        d["message"] for d in result["details"]
    ]
    assert any("timed out" in d["message"] for d in result["details"])
    (listed,) = qrs.json(
        "/executionresult/full", filter=f"executionID eq {session} and status eq Aborted"
    )
    assert listed["id"] == result["id"]


def test_a_result_by_id_matches_the_list(qrs: QrsClient) -> None:
    session = qrs.post(f"/task/{RETRY_ID}/start/synchronous").json()["value"]
    results = run_to_end(qrs, session)
    for listed in results:
        one = qrs.json(f"/executionresult/{listed['id']}")
        assert one == listed
        (by_filter,) = qrs.json("/executionresult/full", filter=f"id eq {listed['id']}")
        assert by_filter == listed
    assert qrs.get("/executionresult/0b7b1c50-6a47-4d63-9a55-00000000dead").status_code == 404
    assert qrs.get("/executionresult/nonsense").status_code == 404


def test_qlikflow_recipe_session_then_result_by_id(qrs: QrsClient) -> None:
    # session -> executionResult.id -> executionresult/{id}, while running and after.
    session = qrs.post(f"/task/{SLOW_ID}/start/synchronous").json()["value"]
    running = wait_until(
        lambda: (
            (s := qrs.json(f"/executionsession/{session}"))["executionResult"]["status"] == 2 and s
        ),
        what="the run to start",
    )
    assert running["id"] == session
    assert running["reloadTask"]["id"] == SLOW_ID
    assert running["executingNode"]["name"] == "test-node"
    rid = running["executionResult"]["id"]
    live = qrs.json(f"/executionresult/{rid}")
    assert live["status"] == 2
    assert live["stopTime"] == "1753-01-01T00:00:00.000Z"
    qrs.post(f"/task/{SLOW_ID}/stop")
    run_to_end(qrs, session)
    assert qrs.get(f"/executionsession/{session}").status_code == 404
    assert qrs.json(f"/executionresult/{rid}")["status"] == 6


def test_script_log_reference_and_download(qrs: QrsClient) -> None:
    session = qrs.post(f"/task/{QUICK_ID}/start/synchronous").json()["value"]
    (result,) = run_to_end(qrs, session)
    assert result["scriptLogAvailable"] is True
    assert result["scriptLogSize"] > 0
    reference = qrs.json(f"/reloadtask/{QUICK_ID}/scriptlogfile", executionResultId=result["id"])[
        "value"
    ]
    log = qrs.get(f"/download/reloadtask/{reference}/scriptlog.txt")
    assert log.status_code == 200
    assert "quick done\r\n" in log.text
    assert log.headers["content-type"].startswith("text/plain")
    wrong_task = qrs.get(
        f"/reloadtask/{RETRY_ID}/scriptlogfile", params={"executionResultId": result["id"]}
    )
    assert wrong_task.status_code == 404
    missing = qrs.get(f"/reloadtask/{QUICK_ID}/scriptlogfile")
    assert missing.status_code == 400
