"""The event of a status change of the execution in a store row: which execution it is comes
from the row (id, attempt, origin, creation, workflow parent and phase, and the task's spec
unless the caller has the task already); what the change says is the caller's."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from taskgate.domain.chains import ChainLink
from taskgate.domain.events import ExecutionEvent
from taskgate.domain.status import Status
from taskgate.domain.tasks import Task


def event_of_row(
    row: Any,
    status: Status,
    at: datetime,
    *,
    task: Task | None = None,
    message: str = "",
    exit_code: int | None = None,
    started_at: datetime | None = None,
    chain: ChainLink | None = None,
    end_reason: str | None = None,
) -> ExecutionEvent:
    return ExecutionEvent.of(
        Task.model_validate(row.task_spec) if task is None else task,
        row.id,
        status,
        at,
        attempt=row.attempt_count,
        message=message,
        origin=row.origin,
        exit_code=exit_code,
        started_at=started_at,
        created_at=row.created_at,
        chain=chain,
        parent_id=row.parent_id,
        phase=row.phase,
        end_reason=end_reason,
    )


def row_event(row: Any, status: Status, at: datetime) -> ExecutionEvent:
    """The event of the execution as the row stands, saying `status` at `at`."""
    return event_of_row(
        row,
        status,
        at,
        message=row.message or "",
        exit_code=row.exit_code,
        started_at=row.started_at,
        end_reason=row.end_reason,
    )
