"""An execution's history told from its records (domain/history.py): the cases the
integration tests cannot make at will."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from taskgate.domain.executions import Attempt, Execution
from taskgate.domain.history import AbortAsked, Firing, Records, history
from taskgate.domain.status import Status

T0 = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def execution(status: Status, attempts: list[Attempt] | None = None, **fields: Any) -> Execution:
    return Execution(
        id="run",
        task_id="task",
        task_name="Task",
        status=status,
        origin="api",
        caller="key:ops",
        params={},
        created_at=T0,
        attempt_count=len(attempts or []),
        attempts=attempts or [],
        **fields,
    )


def attempt(number: int, started: float, finished: float | None, status: Status) -> Attempt:
    return Attempt(
        number=number,
        status=status,
        node="n1",
        started_at=at(started),
        finished_at=None if finished is None else at(finished),
        exit_code=None if finished is None else (0 if status is Status.FINISHED_SUCCESS else 1),
        message="" if finished is None else "exit code 1",
    )


def told(records: Records) -> list[tuple[str, str, int]]:
    return [(e.kind, e.status.value, e.attempt) for e in history(records)]


def test_a_skipped_start_is_one_event() -> None:
    skipped = execution(
        Status.SKIPPED, finished_at=T0, end_reason="skipped", message="another run is going"
    )
    [event] = history(Records(skipped))
    assert (event.status, event.end_reason, event.message) == (
        Status.SKIPPED,
        "skipped",
        "another run is going",
    )
    assert event.by == "key:ops" and event.origin == "api"


def test_a_retry_that_waits_is_told_before_its_attempt() -> None:
    waiting = execution(Status.RETRY, [attempt(1, 1, 2, Status.FINISHED_FAIL)])
    assert told(Records(waiting, retries=3)) == [
        ("status", "queued", 0),
        ("status", "started", 1),
        ("status", "retry", 1),
    ]
    assert history(Records(waiting, retries=3))[-1].message == "exit code 1; retry 1 of 3"


def test_an_abort_while_queued_is_its_end_only() -> None:
    aborted = execution(
        Status.ABORTED, finished_at=at(1), end_reason="aborted", aborted_by="key:boss"
    )
    abort = AbortAsked(at=at(1), by="key:boss", from_status="queued")
    events = history(Records(aborted, abort=abort))
    assert [(e.status.value, e.by) for e in events] == [
        ("queued", "key:ops"),
        ("aborted", "key:boss"),
    ]


def test_an_abort_while_running_comes_before_the_end() -> None:
    aborted = execution(
        Status.ABORTED,
        [attempt(1, 1, 5, Status.ABORTED)],
        finished_at=at(5),
        end_reason="aborted",
        aborted_by="key:boss",
    )
    abort = AbortAsked(at=at(3), by="key:boss", from_status="started")
    assert told(Records(aborted, abort=abort)) == [
        ("status", "queued", 0),
        ("status", "started", 1),
        ("status", "abort_initiated", 1),
        ("status", "aborted", 1),
    ]


def test_an_end_without_an_ended_attempt_is_still_told() -> None:
    # A run whose server died: its attempt was left open, another server wrote its end.
    lost = execution(
        Status.ERROR,
        [attempt(1, 1, None, Status.STARTED)],
        finished_at=at(9),
        end_reason="node_lost",
        message="server process died while running (node n1)",
    )
    events = history(Records(lost))
    assert [(e.status.value, e.end_reason) for e in events] == [
        ("queued", None),
        ("started", None),
        ("error", "node_lost"),
    ]


def test_warnings_and_firings_follow_the_end() -> None:
    done = execution(
        Status.FINISHED_SUCCESS,
        [attempt(1, 1, 4, Status.FINISHED_SUCCESS)],
        finished_at=at(4),
        end_reason="completed",
        warnings=[
            {
                "check": "max_duration",
                "on_violation": "warn",
                "reason": "ran 3 s",
                "while_running": True,
                "attempt": 1,
                "at": at(2).isoformat(),
            },
            {"check": "min_duration", "on_violation": "warn", "reason": "ran 3 s"},
        ],
    )
    firing = Firing("rule", at(4), "started", ["next"], "")
    assert told(Records(done, firings=(firing,))) == [
        ("status", "queued", 0),
        ("status", "started", 1),
        ("max_duration_passed", "started", 1),
        ("status", "finished_success", 1),
        ("check_violated", "finished_success", 1),
        ("chain_fired", "finished_success", 1),
    ]


def test_a_workflows_members_are_named() -> None:
    flow = execution(Status.STARTED, [attempt(1, 1, None, Status.STARTED)])
    member = execution(Status.QUEUED, member="m1", phase=1, parent_id="run").model_copy(
        update={"id": "child", "task_name": "Child", "created_at": at(2)}
    )
    events = history(Records(flow), [Records(member)])
    last = events[-1]
    assert (last.execution_id, last.task_name, last.member, last.status) == (
        "child",
        "Child",
        "m1",
        Status.QUEUED,
    )
    # In its workflow's history a member's first event does not link back to the workflow.
    assert last.execution_ids == []
    assert history(Records(member))[0].execution_ids == ["run"]
