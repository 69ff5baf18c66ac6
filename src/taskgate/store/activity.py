"""How busy the server has been: start times of recent executions, for the dashboard's
starts-per-minute chart. Only the indexed created_at column is read."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import Connection

from taskgate.store.tables import executions


def created_since(conn: Connection, since: datetime, limit: int) -> list[datetime]:
    """Creation times of executions made at or after `since`, newest first, at most `limit`."""
    query = (
        sa.select(executions.c.created_at)
        .where(executions.c.created_at >= since)
        .order_by(executions.c.created_at.desc())
        .limit(limit)
    )
    return [row.created_at for row in conn.execute(query)]
