"""Deadline rows: for each task with a deadline, the next instant it must have succeeded by,
and how the last one went. What a deadline looks at is in the executions table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from taskgate.domain.status import ACTIVE, PENDING, Status
from taskgate.store.skiplocked import skip_locked
from taskgate.store.tables import deadlines, executions, tasks

_UNFINISHED = [s.value for s in PENDING | ACTIVE]


def get(conn: Connection, task_id: str) -> sa.Row[Any] | None:
    return conn.execute(sa.select(deadlines).where(deadlines.c.task_id == task_id)).first()


def put(
    conn: Connection, task_id: str, spec: dict[str, Any], next_due: datetime | None, now: datetime
) -> None:
    """Start the deadline afresh from this spec (a new or changed deadline)."""
    conn.execute(deadlines.delete().where(deadlines.c.task_id == task_id))
    conn.execute(
        deadlines.insert().values(
            task_id=task_id,
            spec=spec,
            next_due=next_due,
            last_due=None,
            last_outcome="",
            last_message="",
            updated_at=now,
        )
    )


def delete(conn: Connection, task_id: str) -> None:
    conn.execute(deadlines.delete().where(deadlines.c.task_id == task_id))


def due(conn: Connection, now: datetime, limit: int) -> list[sa.Row[Any]]:
    """Deadlines that have come; on PostgreSQL locked, and one another server holds skipped."""
    query = (
        sa.select(deadlines)
        .where(deadlines.c.next_due <= now)
        .order_by(deadlines.c.next_due)
        .limit(limit)
    )
    return list(conn.execute(skip_locked(conn, query)))


def next_due(conn: Connection) -> datetime | None:
    # MIN() keeps the column's type, so the value comes back as an aware UTC datetime.
    found: datetime | None = conn.execute(sa.select(sa.func.min(deadlines.c.next_due))).scalar()
    return found


def move(
    conn: Connection,
    task_id: str,
    *,
    was: datetime,
    next_due: datetime | None,
    outcome: str,
    message: str,
    now: datetime,
) -> bool:
    """Record how the deadline `was` went and move to the next; False when another server
    did it first."""
    done = conn.execute(
        deadlines.update()
        .where(deadlines.c.task_id == task_id, deadlines.c.next_due == was)
        .values(
            next_due=next_due,
            last_due=was,
            last_outcome=outcome,
            last_message=message,
            updated_at=now,
        )
    )
    return bool(done.rowcount)


def succeeded_between(conn: Connection, task_id: str, since: datetime, until: datetime) -> bool:
    """Whether the task has a run that ended finished_success in (since, until]."""
    query = (
        sa.select(executions.c.id)
        .where(
            executions.c.task_id == task_id,
            executions.c.status == Status.FINISHED_SUCCESS.value,
            executions.c.finished_at > since,
            executions.c.finished_at <= until,
        )
        .limit(1)
    )
    return conn.execute(query).first() is not None


def latest_since(conn: Connection, task_id: str, since: datetime) -> sa.Row[Any] | None:
    """The task's run to blame for a missed deadline: one still going (the oldest), else the
    latest created since `since`; None when none was."""
    going = conn.execute(
        sa.select(executions)
        .where(executions.c.task_id == task_id, executions.c.status.in_(_UNFINISHED))
        .order_by(executions.c.created_at)
        .limit(1)
    ).first()
    if going is not None:
        return going
    return conn.execute(
        sa.select(executions)
        .where(executions.c.task_id == task_id, executions.c.created_at > since)
        .order_by(executions.c.created_at.desc())
        .limit(1)
    ).first()


def missed_since(conn: Connection, since: datetime) -> list[sa.Row[Any]]:
    """Tasks whose latest deadline, due at or after `since`, was missed: task_id, task_name,
    last_due, last_message; the latest first."""
    query = (
        sa.select(
            deadlines.c.task_id,
            tasks.c.name.label("task_name"),
            deadlines.c.last_due,
            deadlines.c.last_message,
        )
        .join(tasks, tasks.c.id == deadlines.c.task_id)
        .where(deadlines.c.last_outcome == "missed", deadlines.c.last_due >= since)
        .order_by(deadlines.c.last_due.desc())
    )
    return list(conn.execute(query))
