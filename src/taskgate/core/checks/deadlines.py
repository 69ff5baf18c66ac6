"""Deadlines: "this task must have succeeded by 07:00 Europe/Berlin on weekdays".

A task's `checks.deadline` names the instants with a cron expression in a zone (the one cron
of schedules/cron.py). At each one, the task must have a run that ended `finished_success`
since the previous instant (or within `within_seconds`). When it has not, a
`deadline_missed` event says so and why: late (queued or still running), failed (its last
run ended otherwise), or never started. The deadline row then moves to the next instant in
the same transaction: said once, however many servers share the database (see watch.py).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row

from taskgate.core.rowevents import event_of_row
from taskgate.domain.checks import Checks, Deadline, OnViolation, Violation
from taskgate.domain.errors import InvalidInput
from taskgate.domain.events import DEADLINE_MISSED, ExecutionEvent
from taskgate.domain.status import ACTIVE, PENDING, Status
from taskgate.domain.tasks import Task
from taskgate.schedules import cron, triggers
from taskgate.store import deadlines as rows
from taskgate.store import tasks as task_rows

FIELD = "checks.deadline"


def trigger_of(deadline: Deadline) -> cron.CronTrigger:
    """The deadline's instants; InvalidInput naming the field at fault."""
    expression = cron.validate(deadline.cron, field=f"{FIELD}.cron")
    return cron.CronTrigger(expression, triggers.zone(deadline.timezone, f"{FIELD}.timezone"))


def check(checks: Checks | None) -> None:
    """Refuse a deadline whose cron expression does not read (the zone is the model's)."""
    if checks is not None and checks.deadline is not None:
        trigger_of(checks.deadline)


def sync(conn: Connection, task: Task, now: datetime) -> None:
    """Keep the task's deadline row in step with its definition (when the task is saved):
    a new or changed deadline starts afresh from now, an unchanged one keeps its place."""
    deadline = task.checks.deadline if task.checks is not None else None
    if deadline is None:
        rows.delete(conn, task.key)
        return
    trigger = trigger_of(deadline)
    spec = deadline.model_dump(mode="json")
    existing = rows.get(conn, task.key)
    if existing is not None and existing.spec == spec:
        return
    rows.put(conn, task.key, spec, trigger.next_after(now), now)


def state(conn: Connection, task_id: str) -> dict[str, Any] | None:
    """What the API shows of a task's deadline: the next instant, and how the last went."""
    row = rows.get(conn, task_id)
    if row is None:
        return None
    return {
        "next_due": row.next_due,
        "last_due": row.last_due,
        "last_outcome": row.last_outcome or None,
        "last_message": row.last_message,
    }


def fire_due(conn: Connection, now: datetime, limit: int) -> tuple[list[ExecutionEvent], bool]:
    """Judge every deadline that has come; the events to publish, and whether there may be
    more due (`limit` were taken)."""
    found = rows.due(conn, now, limit)
    events: list[ExecutionEvent] = []
    for row in found:
        event = _judge(conn, row, now)
        if event is not None:
            events.append(event)
    return events, len(found) == limit


def next_due(conn: Connection) -> datetime | None:
    return rows.next_due(conn)


def _judge(conn: Connection, row: Row[Any], now: datetime) -> ExecutionEvent | None:
    was: datetime = row.next_due
    deadline = Deadline.model_validate(row.spec)
    try:
        trigger = trigger_of(deadline)
    except InvalidInput as exc:  # a zone gone from the tz database: stop, say why
        rows.move(
            conn,
            row.task_id,
            was=was,
            next_due=None,
            outcome="stopped",
            message=exc.message,
            now=now,
        )
        return None
    # After a pause (the servers were down), the latest instant passed is the one to judge.
    latest = trigger.previous_before(now + timedelta(microseconds=1))
    due_at = latest if latest is not None and latest > was else was
    following = trigger.next_after(max(now, due_at))
    task = task_rows.get(conn, row.task_id)
    if task is None or not task.enabled:
        rows.move(
            conn,
            row.task_id,
            was=was,
            next_due=following,
            outcome="skipped",
            message="the task is disabled",
            now=now,
        )
        return None
    if deadline.within_seconds is not None:
        since = due_at - timedelta(seconds=deadline.within_seconds)
    else:
        since = trigger.previous_before(due_at) or due_at - timedelta(days=1)
    when = _local(due_at, deadline)
    if rows.succeeded_between(conn, task.key, since, due_at):
        rows.move(
            conn,
            task.key,
            was=was,
            next_due=following,
            outcome="met",
            message=f"succeeded by {when}",
            now=now,
        )
        return None
    blame = rows.latest_since(conn, task.key, since)
    why, reason = _why(blame, since, deadline)
    reason = f"not succeeded by {when}: {reason}"
    if not rows.move(
        conn, task.key, was=was, next_due=following, outcome="missed", message=reason, now=now
    ):
        return None
    violation = Violation("deadline", OnViolation.WARN, reason)
    status = Status(blame.status) if blame is not None else Status.NEVER_STARTED
    event = (
        ExecutionEvent.of(task, "", status, now, attempt=0, message=reason, origin="")
        if blame is None
        else event_of_row(blame, status, now, task=task, message=reason)
    )
    news = {**violation.to_json(), "due": due_at.isoformat(), "why": why}
    return dataclasses.replace(event, kind=DEADLINE_MISSED, check=news)


def _why(blame: Row[Any] | None, since: datetime, deadline: Deadline) -> tuple[str, str]:
    """(late | failed | never_started, the words for it)."""
    if blame is None:
        return "never_started", f"never started since {_local(since, deadline)}"
    status = Status(blame.status)
    if status in ACTIVE:
        started = blame.started_at or blame.created_at
        return "late", f"late, running since {_local(started, deadline)}"
    if status in PENDING:
        waiting = "waiting to retry" if status is Status.RETRY else "queued"
        return "late", f"late, {waiting} since {_local(blame.created_at, deadline)}"
    ended = blame.finished_at or blame.created_at
    if status is Status.FINISHED_SUCCESS:  # after the deadline, before this was judged
        return "late", f"late, succeeded at {_local(ended, deadline)}"
    detail = f" ({blame.message})" if blame.message else ""
    return "failed", f"its last run ended {status.value} at {_local(ended, deadline)}{detail}"


def _local(moment: datetime, deadline: Deadline) -> str:
    local = moment.astimezone(triggers.zone(deadline.timezone))
    return f"{local:%Y-%m-%d %H:%M:%S} {deadline.timezone}"
