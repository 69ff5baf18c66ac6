"""Executions whose process stopped while they ran: ended as such, or retried by their policy.

Three ways in, one rule for what happens to such an execution (`end_orphans`):
- a server stopping ends what it still runs ("server stopped while it was running");
- on SQLite, where one server owns the database file, a server starting ends every execution
  left running, at once ("server process died while running");
- on any database, the lease sweep of any server ends executions whose process stopped
  renewing its lease ("... (node X stopped renewing its lease)").

A run whose process died ends when that process was last seen (its last lease renewal,
`seen_at`), not when another process finds it: its duration, its event and its attempt do not
count the time the server was down.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from taskgate.core.clock import utcnow
from taskgate.core.context import CoreContext
from taskgate.core.endings import AfterCommit, Ended
from taskgate.core.rowevents import event_of_row
from taskgate.domain.events import ExecutionEvent
from taskgate.domain.status import ACTIVE, EndReason, Status
from taskgate.domain.tasks import Task
from taskgate.engine.outcome import after_attempt
from taskgate.store import executions as rows
from taskgate.store import holding

log = logging.getLogger(__name__)

DIED = "server process died while running"
STOPPED = "server stopped while it was running"

# Why one execution ended, from its row (which node ran it).
Reason = Callable[[Any], str]


async def end_held(ctx: CoreContext, reason: str) -> int:
    """End (or retry) the executions this server process still holds, as it stops."""
    return await _end(
        ctx,
        lambda conn: rows.in_statuses(conn, ACTIVE, instance=ctx.instance),
        lambda row: f"{reason} (node {row.node or ctx.node})",
        EndReason.SERVER_STOPPED,
    )


async def end_all_running(ctx: CoreContext) -> int:
    """End (or retry) every execution left running: for a server that owns its database file
    alone (SQLite), whatever still runs at its start ran in a process that is gone."""
    return await _end(
        ctx,
        holding.running_in_a_process,
        lambda row: f"{DIED} (node {row.node or ctx.node})",
        EndReason.NODE_LOST,
    )


async def take_over_expired(ctx: CoreContext) -> int:
    """End (or retry) executions whose lease has ended: their process stopped renewing it."""
    now = utcnow()
    return await _end(
        ctx,
        lambda conn: holding.expired_leases(conn, now),
        lambda row: f"{DIED} (node {row.node or '?'} stopped renewing its lease)",
        EndReason.NODE_LOST,
        now=now,
    )


async def _end(
    ctx: CoreContext,
    select: Callable[[Connection], Sequence[Any]],
    reason: Reason,
    why: EndReason,
    *,
    now: datetime | None = None,
) -> int:
    at = now or utcnow()
    after = AfterCommit()

    def work(conn: Connection) -> list[ExecutionEvent]:
        events, ended = end_orphans(conn, select(conn), reason, at, why)
        ctx.endings.fire(conn, ended, after)
        return events

    events = await ctx.db.write(work)
    for event in events:
        ctx.bus.publish(event)
    after.run(ctx.bus)
    if events:
        log.warning(
            "%d execution(s) ended because their server process stopped: %s",
            len(events),
            ", ".join(e.execution_id for e in events),
        )
    return len(events)


def end_orphans(
    conn: Connection, orphans: Sequence[Any], reason: Reason, now: datetime, why: EndReason
) -> tuple[list[ExecutionEvent], list[Ended]]:
    """End each orphan (or put it back to retry): its events, and the ends for the hooks."""
    events: list[ExecutionEvent] = []
    ended: list[Ended] = []
    for row in orphans:
        task = Task.model_validate(row.task_spec)
        message = reason(row)
        attempt_status = Status.ERROR if row.status == Status.STARTED.value else Status.ABORTED
        note = message if attempt_status is Status.ERROR else f"aborted; {message}"
        # An abort on its way ends as the abort it was; any other run for the reason given.
        end_reason = (why if attempt_status is Status.ERROR else EndReason.ABORTED).value
        ended_at = last_seen(row, now) if why is EndReason.NODE_LOST else now
        step = after_attempt(task.retries, row.attempt_count, attempt_status, note, now)
        # The execution's row first, then its attempt's, in the order a run's own end writes
        # them (engine/local.py): a run ending here at the same moment (a server stopping
        # while a run's end is being written, on PostgreSQL) waits, and does not deadlock.
        rows.update(
            conn,
            row.id,
            status=step.status.value,
            finished_at=None if step.status is Status.RETRY else ended_at,
            end_reason=None if step.status is Status.RETRY else end_reason,
            not_before=step.not_before,
            message=step.message,
            log_size=rows.log_end(conn, row.id),
            # Let go: the process that held it can no longer write its end.
            instance=None,
            lease_until=None,
        )
        for attempt in rows.open_attempts(conn, row.id):
            rows.finish_attempt(
                conn,
                row.id,
                attempt.number,
                status=attempt_status.value,
                finished_at=ended_at,
                message=note,
                end_reason=end_reason,
            )
        events.append(
            event_of_row(
                row,
                step.status,
                ended_at,
                task=task,
                message=step.message,
                chain=rows.chain_link(row),
                started_at=row.started_at,
                end_reason=None if step.status is Status.RETRY else end_reason,
            )
        )
        if step.status is not Status.RETRY:
            ended.append(
                Ended(row.id, row.task_id, step.status, ended_at, row.origin, row.parent_id)
            )
    return events, ended


def last_seen(row: Any, now: datetime) -> datetime:
    """When the process that ran `row` was last known alive: its last lease renewal, never
    before the run started nor after `now` (clocks of two nodes may differ)."""
    seen = row.seen_at or row.started_at or now
    if row.started_at is not None:
        seen = max(seen, row.started_at)
    return min(seen, now)
