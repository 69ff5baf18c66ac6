import dataclasses
from datetime import UTC, datetime, timedelta

from taskgate.domain.events import (
    CHECK_VIOLATED,
    DEADLINE_MISSED,
    KINDS,
    MAX_DURATION_PASSED,
    STATUS,
    EventFilter,
    ExecutionEvent,
)
from taskgate.domain.status import FAILED, TERMINAL, Status
from taskgate.domain.tasks import Task

TASK = Task.model_validate(
    {
        "id": "0b0e5a0c-2f0c-4f51-9b8e-3d1f6f7a2c11",
        "name": "Reload sales",
        "label": "sales",
        "tags": ["finance", "nightly"],
        "action": {"kind": "command", "argv": ["true"]},
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
    }
)
STARTED = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def test_terminal_payload_carries_task_facts_and_duration() -> None:
    event = ExecutionEvent.of(
        TASK,
        "e1",
        Status.FINISHED_FAIL,
        STARTED + timedelta(seconds=2.5),
        attempt=2,
        message="exit code 3",
        origin="mqtt",
        exit_code=3,
        started_at=STARTED,
        end_reason="completed",
    )
    assert event.to_payload() == {
        "execution_id": "e1",
        "task_id": "0b0e5a0c-2f0c-4f51-9b8e-3d1f6f7a2c11",
        "task_name": "Reload sales",
        "label": "sales",
        "tags": ["finance", "nightly"],
        "status": Status.FINISHED_FAIL.value,
        "kind": "status",
        "attempt": 2,
        "at": "2026-03-01T12:00:02.500000+00:00",
        "started_at": "2026-03-01T12:00:00+00:00",
        "duration_ms": 2500,
        "exit_code": 3,
        "origin": "mqtt",
        "message": "exit code 3",
        "end_reason": "completed",
        "parent_id": None,
        "phase": None,
    }


def test_a_workflow_members_payload_names_its_parent_and_phase() -> None:
    event = ExecutionEvent.of(
        TASK, "e2", Status.QUEUED, STARTED, origin="workflow", parent_id="p1", phase=2
    )
    payload = event.to_payload()
    assert (payload["parent_id"], payload["phase"], payload["origin"]) == ("p1", 2, "workflow")


def test_running_payload_has_no_duration_yet() -> None:
    event = ExecutionEvent.of(TASK, "e1", Status.STARTED, STARTED, attempt=1, started_at=STARTED)
    assert event.to_payload()["duration_ms"] is None


def test_an_empty_filter_lets_every_event_through() -> None:
    assert EventFilter().matches(ExecutionEvent.of(TASK, "e1", Status.QUEUED, STARTED))


def test_a_filter_names_tasks_by_id_or_label() -> None:
    event = ExecutionEvent.of(TASK, "e1", Status.QUEUED, STARTED)
    assert EventFilter.of(tasks=["sales"]).matches(event)
    assert EventFilter.of(tasks=[TASK.key, "other"]).matches(event)
    assert not EventFilter.of(tasks=["Reload sales"]).matches(event)


def test_every_filter_given_must_match() -> None:
    event = ExecutionEvent.of(TASK, "e1", Status.FINISHED_FAIL, STARTED)
    wanted = EventFilter.of(
        tasks=["sales"], tags=["nightly", "weekly"], executions=["e1"], statuses=[Status.ERROR]
    )
    assert not wanted.matches(event)
    assert EventFilter.of(tags=["weekly", "nightly"], statuses=list(FAILED)).matches(event)
    assert not EventFilter.of(tags=["weekly"]).matches(event)
    assert not EventFilter.of(executions=["e2"]).matches(event)


def test_a_workflow_filter_takes_its_own_events_and_its_members() -> None:
    wanted = EventFilter.of(within=["p1"])
    assert wanted.matches(ExecutionEvent.of(TASK, "p1", Status.STARTED, STARTED))
    assert wanted.matches(ExecutionEvent.of(TASK, "e2", Status.QUEUED, STARTED, parent_id="p1"))
    assert not wanted.matches(ExecutionEvent.of(TASK, "e3", Status.QUEUED, STARTED, parent_id="x"))
    assert not wanted.matches(ExecutionEvent.of(TASK, "e4", Status.QUEUED, STARTED))


def test_failed_ends_are_a_failure_and_other_ends_are_not() -> None:
    assert {s for s in Status if s.is_failure} == {Status.FINISHED_FAIL, Status.ERROR}
    assert FAILED <= TERMINAL


def test_a_checks_news_is_told_apart_from_a_status_change() -> None:
    change = ExecutionEvent.of(TASK, "e1", Status.FINISHED_SUCCESS, STARTED)
    news = dataclasses.replace(
        change,
        kind=CHECK_VIOLATED,
        check={"check": "min_duration", "on_violation": "warn", "reason": "ran 3 s"},
    )
    assert change.is_status and not news.is_status
    assert news.to_payload()["kind"] == "check_violated"
    assert news.to_payload()["check"]["check"] == "min_duration"
    assert "check" not in change.to_payload()
    only_news = EventFilter.of(kinds=[CHECK_VIOLATED])
    assert only_news.matches(news) and not only_news.matches(change)
    assert EventFilter.of(statuses=[Status.FINISHED_SUCCESS]).matches(news)
    assert set(KINDS) == {STATUS, CHECK_VIOLATED, MAX_DURATION_PASSED, DEADLINE_MISSED}
