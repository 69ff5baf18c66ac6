"""How long a task's recent successful runs took: the history learned bounds come from."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import Connection

from taskgate.domain.status import Status
from taskgate.store.tables import attempts, executions

_SUCCESS = Status.FINISHED_SUCCESS.value
# The attempt that ended each successful execution (the one that succeeded), newest first.
_RECENT = (
    sa.select(attempts.c.started_at, attempts.c.finished_at)
    .select_from(attempts.join(executions, executions.c.id == attempts.c.execution_id))
    .where(
        executions.c.task_id == sa.bindparam("tid"),
        executions.c.status == _SUCCESS,
        attempts.c.status == _SUCCESS,
        attempts.c.finished_at.is_not(None),
    )
    .order_by(attempts.c.finished_at.desc())
    .limit(sa.bindparam("limit"))
)


def recent_successes(conn: Connection, task_id: str, limit: int) -> list[float]:
    """Durations in seconds of the task's latest `limit` successful runs, newest first."""
    rows = conn.execute(_RECENT, {"tid": task_id, "limit": limit})
    return [max(0.0, (r.finished_at - r.started_at).total_seconds()) for r in rows]
