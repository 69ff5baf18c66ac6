"""Runs whose current attempt has passed its max_duration (executions.overrun_at)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from taskgate.domain.status import ACTIVE
from taskgate.store.skiplocked import skip_locked
from taskgate.store.tables import attempts, executions

_ACTIVE = [s.value for s in ACTIVE]


def due(conn: Connection, now: datetime, limit: int) -> list[sa.Row[Any]]:
    """Running executions whose attempt passed its max_duration and nobody announced it yet.
    On PostgreSQL each is locked, and one another server is announcing is left to it."""
    query = (
        sa.select(executions)
        .where(executions.c.overrun_at <= now, executions.c.status.in_(_ACTIVE))
        .order_by(executions.c.overrun_at)
        .limit(limit)
    )
    return list(conn.execute(skip_locked(conn, query)))


def next_due(conn: Connection) -> datetime | None:
    """When the next running attempt passes its max_duration."""
    query = sa.select(sa.func.min(executions.c.overrun_at)).where(
        executions.c.overrun_at.is_not(None), executions.c.status.in_(_ACTIVE)
    )
    # MIN() keeps the column's type, so the value comes back as an aware UTC datetime.
    found: datetime | None = conn.execute(query).scalar()
    return found


def attempt_started(conn: Connection, execution_id: str, number: int) -> datetime | None:
    query = sa.select(attempts.c.started_at).where(
        attempts.c.execution_id == execution_id, attempts.c.number == number
    )
    found: datetime | None = conn.execute(query).scalar()
    return found


def announce(
    conn: Connection,
    execution_id: str,
    due_at: datetime,
    warnings: list[dict[str, Any]],
    next_at: datetime | None,
) -> bool:
    """Mark the overrun announced, with the next one to look at (once: False when another
    server did it first)."""
    done = conn.execute(
        executions.update()
        .where(
            executions.c.id == execution_id,
            executions.c.overrun_at == due_at,
            executions.c.status.in_(_ACTIVE),
        )
        .values(overrun_at=next_at, warnings=warnings)
    )
    return bool(done.rowcount)
