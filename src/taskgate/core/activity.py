"""Starts per minute over the last hours: what the dashboard's overview charts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from taskgate.core.clock import utcnow
from taskgate.store import activity
from taskgate.store.db import Database

# Past this many starts in the window the chart shows the newest only (and says so): a
# page must stay fast on a server that starts thousands of runs a minute.
MAX_COUNTED = 200_000


async def starts_per_minute(db: Database, hours: float) -> tuple[list[tuple[datetime, int]], bool]:
    """One (minute, starts) per minute of the last `hours`, oldest first, and whether the
    count was cut at MAX_COUNTED."""
    now = utcnow().replace(second=0, microsecond=0)
    first = now - timedelta(minutes=int(hours * 60) - 1)
    times = await db.read(lambda conn: activity.created_since(conn, first, MAX_COUNTED))
    counts: dict[datetime, int] = {}
    for at in times:
        minute = (at if at.tzinfo else at.replace(tzinfo=UTC)).replace(second=0, microsecond=0)
        counts[minute] = counts.get(minute, 0) + 1
    minutes = int((now - first).total_seconds() // 60) + 1
    series = [(first + timedelta(minutes=i), 0) for i in range(minutes)]
    return [(m, counts.get(m, 0)) for m, _ in series], len(times) >= MAX_COUNTED
