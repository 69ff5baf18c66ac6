"""Executions whose process stopped while they ran: ended as such, or retried by their policy."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import Connection

from taskgate.core.clock import utcnow
from taskgate.core.context import CoreContext
from taskgate.domain.events import ExecutionEvent
from taskgate.domain.status import ACTIVE, Status
from taskgate.domain.tasks import Task
from taskgate.engine.outcome import after_attempt
from taskgate.store import executions as rows

log = logging.getLogger(__name__)


async def recover(ctx: CoreContext, reason: str) -> int:
    """End (or retry) executions this node was running when its process stopped."""
    now = utcnow()
    message = f"{reason} (node {ctx.node})"
    events = await ctx.db.write(lambda conn: _end_orphans(conn, ctx.node, message, now))
    for event in events:
        ctx.bus.publish(event)
    if events:
        log.warning(
            "%d execution(s) were running when the process stopped: %s",
            len(events),
            ", ".join(e.execution_id for e in events),
        )
    return len(events)


def _end_orphans(conn: Connection, node: str, message: str, now: datetime) -> list[ExecutionEvent]:
    events: list[ExecutionEvent] = []
    for row in rows.in_statuses(conn, ACTIVE, node=node):
        task = Task.model_validate(row.task_spec)
        attempt_status = Status.ERROR if row.status == Status.STARTED.value else Status.ABORTED
        note = message if attempt_status is Status.ERROR else f"aborted; {message}"
        step = after_attempt(task.retries, row.attempt_count, attempt_status, note, now)
        for attempt in rows.open_attempts(conn, row.id):
            rows.finish_attempt(
                conn,
                row.id,
                attempt.number,
                status=attempt_status.value,
                finished_at=now,
                message=note,
            )
        rows.update(
            conn,
            row.id,
            status=step.status.value,
            finished_at=None if step.status is Status.RETRY else now,
            not_before=step.not_before,
            message=step.message,
            log_size=rows.log_end(conn, row.id),
        )
        events.append(
            ExecutionEvent.of(
                task,
                row.id,
                step.status,
                now,
                attempt=row.attempt_count,
                message=step.message,
                origin=row.origin,
            )
        )
    return events
