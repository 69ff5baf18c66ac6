"""Executions seen as QRS sees them: a session per execution, a result per attempt.

QRS gives every execution result a GUID of its own. taskgate stores attempts under
(execution id, number), so a result's id is derived from both, reversibly: the execution's
UUID XOR a key per attempt number. Looking a result up by id tries each possible number
against the executions table in one query; no extra table and no migration.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum

from taskgate.domain.executions import Attempt, Execution
from taskgate.domain.qrsenums import TASK_EXECUTION_STATUS
from taskgate.domain.status import ACTIVE, QRS_CODE, Status, shown_status
from taskgate.domain.tasks import MAX_RETRIES

_NAMESPACE = uuid.UUID("2d7c3a58-5f43-4f4e-9f5a-6b0b8f0e4c21")
# The first try and every retry (a retry not yet started has its result too).
MAX_RESULTS = MAX_RETRIES + 1
_KEYS = [uuid.uuid5(_NAMESPACE, f"result-{n}").int for n in range(MAX_RESULTS + 1)]


class DetailType(IntEnum):
    """QRS's ExecutionResultDetail.detailsType."""

    ERROR = 0
    WARNING = 1
    INFORMATION = 2


@dataclass(frozen=True)
class Detail:
    at: datetime
    kind: DetailType
    message: str


@dataclass(frozen=True)
class ResultView:
    """One execution result: one attempt, or the try that has not started yet."""

    id: str
    execution: Execution
    number: int
    status: Status
    started_at: datetime | None
    finished_at: datetime | None
    node: str
    details: tuple[Detail, ...]

    @property
    def duration_ms(self) -> int:
        if self.started_at is None or self.finished_at is None:
            return 0
        return int((self.finished_at - self.started_at).total_seconds() * 1000)


def result_id(execution_id: str, number: int) -> str:
    return str(uuid.UUID(int=uuid.UUID(execution_id).int ^ _KEYS[number]))


def result_candidates(rid: str) -> dict[str, int]:
    """The (execution id -> attempt number) pairs a result id could stand for."""
    try:
        value = uuid.UUID(rid).int
    except ValueError:
        return {}
    return {str(uuid.UUID(int=value ^ _KEYS[n])): n for n in range(1, MAX_RESULTS + 1)}


def status_name(status: Status) -> str:
    """QRS's name of a status: `finished_success` -> `FinishedSuccess`."""
    return TASK_EXECUTION_STATUS.name_of(QRS_CODE[status]) or status.value


def qrs_code(status: Status) -> int:
    return QRS_CODE[status]


def _outcome_kind(status: Status) -> DetailType:
    if status.is_failure:
        return DetailType.ERROR
    if status in (Status.ABORTED, Status.SKIPPED):
        return DetailType.WARNING
    return DetailType.INFORMATION


def _ended(details: list[Detail], at: datetime, before: str, status: Status, note: str) -> None:
    details.append(
        Detail(
            at,
            DetailType.INFORMATION,
            f"Changing task state from {before} to {status_name(status)}",
        )
    )
    if note:
        details.append(Detail(at, _outcome_kind(status), note))


def _attempt_view(execution: Execution, attempt: Attempt, last: bool) -> ResultView:
    # The attempt row says `started` until it ends; the execution knows about an abort.
    # An end shows as QRS shows it (a timeout is Aborted), from the one table.
    status = shown_status(attempt.status, attempt.end_reason)
    if last and attempt.finished_at is None and execution.status in ACTIVE:
        status = execution.status
    details: list[Detail] = []
    if attempt.number == 1:
        details.append(_triggered(execution))
    before = "Queued" if attempt.number == 1 else "Retry"
    details.append(
        Detail(
            attempt.started_at,
            DetailType.INFORMATION,
            f"Trying to start task. Sending task to node {attempt.node}",
        )
    )
    details.append(
        Detail(
            attempt.started_at,
            DetailType.INFORMATION,
            f"Changing task state from {before} to Started",
        )
    )
    if status in (Status.ABORT_INITIATED, Status.ABORTING):
        details.append(
            Detail(
                attempt.started_at,
                DetailType.INFORMATION,
                f"Changing task state from Started to {status_name(status)}",
            )
        )
    if attempt.finished_at is not None:
        _ended(details, attempt.finished_at, "Started", status, attempt.message)
    return ResultView(
        id=result_id(execution.id, attempt.number),
        execution=execution,
        number=attempt.number,
        status=status,
        started_at=attempt.started_at,
        finished_at=attempt.finished_at,
        node=attempt.node,
        details=tuple(details),
    )


def _triggered(execution: Execution) -> Detail:
    return Detail(
        execution.created_at,
        DetailType.INFORMATION,
        f"Task triggered by {execution.caller} ({execution.origin})",
    )


def results_of(execution: Execution) -> list[ResultView]:
    """Oldest first: one per attempt, and one for the try still to come."""
    attempts = execution.attempts or []
    views = [_attempt_view(execution, a, a is attempts[-1]) for a in attempts]
    if attempts and execution.status is not Status.RETRY:
        return views
    number = len(attempts) + 1
    details = [] if attempts else [_triggered(execution)]
    finished_at = execution.finished_at if execution.status.is_terminal else None
    shown = shown_status(execution.status, execution.end_reason)
    if execution.status is Status.RETRY and attempts:
        last_end = attempts[-1].finished_at or execution.created_at
        details.append(Detail(last_end, DetailType.INFORMATION, execution.message))
    elif finished_at is not None:
        _ended(details, finished_at, "Queued", shown, execution.message)
    views.append(
        ResultView(
            id=result_id(execution.id, number),
            execution=execution,
            number=number,
            status=shown,
            started_at=None,
            finished_at=finished_at,
            node=execution.node or "",
            details=tuple(details),
        )
    )
    return views
