"""QRS task endpoints over real HTTP: lists, filters, counts, one task, start and stop."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import ServerProcess
from tests.qrs.conftest import SLOW_ID, QrsClient
from tests.support import (
    OFF_ID,
    QUICK_ID,
    SEL_A_ID,
    SEL_B_ID,
    SEL_C_ID,
    list_executions,
    wait_until,
)

EMPTY_GUID = "00000000-0000-0000-0000-000000000000"
NEVER = "1753-01-01T00:00:00.000Z"


def names(entities: list[dict[str, Any]]) -> set[str]:
    return {e["name"] for e in entities}


def run_to_end(qrs: QrsClient, session: str) -> list[dict[str, Any]]:
    """The QRS recipe: poll the session until it is gone (404), then read the results."""
    wait_until(
        lambda: qrs.get(f"/executionsession/{session}").status_code == 404,
        timeout=60,
        what="the session to end",
    )
    results: list[dict[str, Any]] = qrs.json(
        "/executionresult/full", filter=f"executionID eq {session}", orderby="startTime desc"
    )
    return results


def test_full_reload_task_has_the_fields_clients_read(qrs: QrsClient) -> None:
    task = qrs.json(f"/reloadtask/{SEL_B_ID}")
    assert task["id"] == SEL_B_ID
    assert task["name"] == "Selector task B"
    assert task["taskType"] == 0
    assert task["enabled"] is True
    assert task["schemaPath"] == "ReloadTask"
    assert task["tags"][0]["name"] == "alpha"
    assert {(cp["definition"]["name"], cp["value"]) for cp in task["customProperties"]} == {
        ("group", "g1"),
        ("group", "g2"),
    }
    assert task["taskSessionTimeout"] == 1440
    assert task["maxRetries"] == 0
    assert task["createdDate"].endswith("Z") and len(task["createdDate"]) == 24
    assert "lastExecutionResult" in task["operational"]
    assert task["operational"]["nextExecution"] == NEVER


def test_reloadtask_by_id_errors(qrs: QrsClient) -> None:
    assert qrs.get("/reloadtask/0b7b1c50-6a47-4d63-9a55-000000000000").status_code == 404
    malformed = qrs.get("/reloadtask/not-a-guid")
    assert malformed.status_code == 400
    assert malformed.json()["field"] == "id"
    # QRS has no GET on the abstract task type by id.
    assert qrs.get(f"/task/{QUICK_ID}").status_code == 404


def test_filters_on_tags_and_custom_properties(qrs: QrsClient) -> None:
    alpha = qrs.json("/reloadtask/full", filter="tags.name eq 'alpha'")
    assert names(alpha) == {"Selector task A", "Selector task B"}
    g2 = qrs.json(
        "/task/full",
        filter="(customProperties.definition.name eq 'group') and (customProperties.value eq 'G2')",
    )
    assert names(g2) == {"Selector task B", "Selector task C"}
    by_id = qrs.json("/reloadtask", filter=f"id eq {SEL_C_ID}")
    assert [t["name"] for t in by_id] == ["Selector task C"]
    disabled = qrs.json("/reloadtask", filter="enabled eq false")
    assert [t["id"] for t in disabled] == [OFF_ID]
    assert qrs.json("/reloadtask/count", filter="tags.name eq 'alpha'") == {"value": 2}


def test_condensed_list_carries_the_last_status(qrs: QrsClient) -> None:
    session = qrs.post(f"/task/{SEL_A_ID}/start/synchronous").json()["value"]
    run_to_end(qrs, session)
    (task,) = qrs.json("/task", filter=f"id eq {SEL_A_ID}")
    assert set(task) >= {"id", "name", "taskType", "enabled", "operational"}
    assert "tags" not in task  # condensed
    last = task["operational"]["lastExecutionResult"]
    assert last["status"] == 7
    assert last["startTime"] != NEVER
    successful = qrs.json(
        "/task", filter="operational.lastExecutionResult.status eq FinishedSuccess"
    )
    assert SEL_A_ID in {t["id"] for t in successful}


def test_orderby_name_desc(qrs: QrsClient) -> None:
    ordered = qrs.json("/reloadtask", filter="tags.name eq 'std'", orderby="name desc")
    assert [t["name"] for t in ordered] == ["Slow task", "Quick task", "Failing task"]


def test_start_by_id_is_204_and_runs(qrs_server: ServerProcess, qrs: QrsClient) -> None:
    before = {e["id"] for e in list_executions(qrs.http, task=SEL_C_ID)}
    response = qrs.post(f"/task/{SEL_C_ID}/start")
    assert response.status_code == 204
    assert response.content == b""
    new = wait_until(
        lambda: [e for e in list_executions(qrs.http, task=SEL_C_ID) if e["id"] not in before],
        what="the execution",
    )
    assert new[0]["origin"] == "qrs"


def test_start_synchronous_gives_a_session_that_ends_in_success(qrs: QrsClient) -> None:
    response = qrs.post(f"/task/{QUICK_ID}/start/synchronous")
    assert response.status_code == 201
    session = response.json()["value"]
    assert session != EMPTY_GUID
    (result,) = run_to_end(qrs, session)
    assert result["status"] == 7
    assert result["executionID"] == session
    assert result["taskID"] == QUICK_ID
    assert result["duration"] >= 0
    assert result["stopTime"] >= result["startTime"]


def test_a_disabled_task_gives_the_empty_guid(qrs: QrsClient) -> None:
    response = qrs.post(f"/task/{OFF_ID}/start/synchronous")
    assert response.status_code == 201
    assert response.json() == {"value": EMPTY_GUID}


def test_start_of_an_unknown_task_is_404(qrs: QrsClient) -> None:
    unknown = "0b7b1c50-6a47-4d63-9a55-00000000dead"
    assert qrs.post(f"/task/{unknown}/start").status_code == 404
    assert qrs.post(f"/task/{unknown}/start/synchronous").status_code == 404
    assert qrs.post("/task/nonsense/start").status_code == 400


def test_start_by_name_case_insensitive(qrs: QrsClient) -> None:
    response = qrs.post("/task/start/synchronous", params={"name": "quick TASK"})
    assert response.status_code == 201
    (result,) = run_to_end(qrs, response.json()["value"])
    assert result["taskID"] == QUICK_ID
    assert qrs.post("/task/start", params={"name": "Quick task"}).status_code == 204


def test_start_by_unknown_name_is_400_with_qrs_message(qrs: QrsClient) -> None:
    response = qrs.post("/task/start", params={"name": "No such task"})
    assert response.status_code == 400
    assert response.json()["message"].startswith("Cannot find a task with the following name")
    assert qrs.post("/task/start/synchronous").status_code == 400


def test_start_many(qrs: QrsClient) -> None:
    before = {e["id"] for e in list_executions(qrs.http, origin="qrs")}
    response = qrs.post("/task/start/many", json=[SEL_A_ID, SEL_B_ID])
    assert response.status_code == 204

    def started() -> set[str] | None:
        new = [e for e in list_executions(qrs.http, origin="qrs") if e["id"] not in before]
        tasks = {e["task_id"] for e in new}
        return tasks if tasks >= {SEL_A_ID, SEL_B_ID} else None

    assert wait_until(started, what="both starts") == {SEL_A_ID, SEL_B_ID}


def test_start_many_with_an_unknown_id_starts_nothing(qrs: QrsClient) -> None:
    before = len(list_executions(qrs.http, task=SEL_C_ID))
    unknown = "0b7b1c50-6a47-4d63-9a55-00000000beef"
    response = qrs.post("/task/start/many", json=[SEL_C_ID, unknown])
    assert response.status_code == 404
    assert unknown in response.json()["message"]
    assert len(list_executions(qrs.http, task=SEL_C_ID)) == before


def test_start_many_bad_bodies(qrs: QrsClient) -> None:
    for body in (b"{}", b"not json", b"[1, 2]", b'["nope"]'):
        response = qrs.post(
            "/task/start/many", content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400, body
        assert response.json()["field"] == "body"


def test_stop_ends_the_run_as_aborted(qrs: QrsClient) -> None:
    session = qrs.post(f"/task/{SLOW_ID}/start/synchronous").json()["value"]
    wait_until(
        lambda: qrs.json(f"/executionsession/{session}")["executionResult"]["status"] == 2,
        what="the run to start",
    )
    assert qrs.post(f"/task/{SLOW_ID}/stop").status_code == 204
    (result,) = run_to_end(qrs, session)
    assert result["status"] == 6
    messages = [d["message"] for d in result["details"]]
    assert "Changing task state from Started to Aborted" in messages


def test_stop_many_and_stop_unknown(qrs: QrsClient) -> None:
    first = qrs.post(f"/task/{SLOW_ID}/start/synchronous").json()["value"]
    assert qrs.post("/task/stop/many", json=[SLOW_ID]).status_code == 204
    (result,) = run_to_end(qrs, first)
    assert result["status"] == 6
    assert qrs.post("/task/0b7b1c50-6a47-4d63-9a55-00000000beef/stop").status_code == 404


def test_session_lists_show_running_runs_only(qrs_server: ServerProcess) -> None:
    with httpx.Client(base_url=qrs_server.url, timeout=30) as http:
        qrs = QrsClient(http)
        session = qrs.post(f"/task/{SLOW_ID}/start/synchronous").json()["value"]
        listed = qrs.json("/executionsession", filter=f"id eq {session}")
        assert [s["id"] for s in listed] == [session]
        full = qrs.json("/executionsession/full")
        mine = [s for s in full if s["id"] == session]
        assert mine[0]["reloadTask"]["id"] == SLOW_ID
        assert mine[0]["user"] == "qrs:INTERNAL\\sa_api"
        assert qrs.json("/executionsession/count", filter=f"id eq {session}") == {"value": 1}
        qrs.post(f"/task/{SLOW_ID}/stop")
        run_to_end(qrs, session)
        assert qrs.json("/executionsession", filter=f"id eq {session}") == []
