"""What a task's concurrency and the queue's bound count, the locks that keep those counts
true while several servers start and claim at once, and the due executions a claim reads."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from taskgate.domain.status import ACTIVE, PENDING, Status
from taskgate.store.prepared import PreparedQuery, Record
from taskgate.store.specs import spec_text
from taskgate.store.tables import executions


def _count_in(statuses: Iterable[Status]) -> sa.Select[Any]:
    return (
        sa.select(executions.c.task_id, sa.func.count())
        .where(
            executions.c.task_id.in_(sa.bindparam("ids", expanding=True)),
            executions.c.status.in_([s.value for s in statuses]),
        )
        .group_by(executions.c.task_id)
    )


_COUNT_BUSY = _count_in(ACTIVE | PENDING)
_COUNT_ACTIVE = _count_in(ACTIVE)


_LOCK_TASK_STARTS = sa.text(
    "SELECT pg_advisory_xact_lock(hashtextextended('taskgate.start:' || :tid, 0))"
)


def count_busy(conn: Connection, task_ids: Iterable[str]) -> dict[str, int]:
    """Executions per task that are running or waiting to run, as this transaction may add
    to them: on PostgreSQL, after waiting for any other transaction that is starting one of
    these tasks to end (a lock held until this one ends), so two servers never both count
    none of a `skip` task and both start it; on SQLite one transaction writes at a time."""
    ids = sorted(set(task_ids))  # one order for every transaction: no deadlock between two
    if conn.dialect.name == "postgresql":
        for tid in ids:
            conn.execute(_LOCK_TASK_STARTS, {"tid": tid})
    return {r[0]: r[1] for r in conn.execute(_COUNT_BUSY, {"ids": ids})}


_TRY_LOCK_TASK = sa.text(
    "SELECT pg_try_advisory_xact_lock(hashtextextended('taskgate.claim:' || :tid, 0))"
)


def lock_tasks_for_claim(conn: Connection, task_ids: Iterable[str]) -> set[str]:
    """The tasks whose running executions this transaction may count and add to: on
    PostgreSQL, those no other transaction is claiming for right now (a lock held until this
    one ends, so two servers never both see a free slot of one task); on SQLite, where one
    transaction writes at a time, all of them."""
    wanted = set(task_ids)
    if conn.dialect.name != "postgresql":
        return wanted
    return {tid for tid in sorted(wanted) if conn.execute(_TRY_LOCK_TASK, {"tid": tid}).scalar()}


def count_active(conn: Connection, task_ids: Iterable[str]) -> dict[str, int]:
    """Executions per task that hold a concurrency slot."""
    return {r[0]: r[1] for r in conn.execute(_COUNT_ACTIVE, {"ids": list(task_ids)})}


def _waiting(*, per_task: bool) -> sa.Select[Any]:
    inner = sa.select(sa.literal(1)).where(executions.c.status.in_([s.value for s in PENDING]))
    if per_task:
        inner = inner.where(executions.c.task_id == sa.bindparam("tid"))
    # Counted up to `cap` only: a full queue costs the count of its bound, not of its length.
    inner = inner.limit(sa.bindparam("cap"))
    return sa.select(sa.func.count()).select_from(inner.subquery())


_WAITING_ALL = _waiting(per_task=False)
_WAITING_OF_TASK = _waiting(per_task=True)
_LOCK_QUEUE = sa.text("SELECT pg_advisory_xact_lock(hashtextextended('taskgate.queue', 0))")


def count_waiting(conn: Connection, cap: int, task_id: str | None = None) -> int:
    """Executions waiting to run (of `task_id`, or of every task), counted up to `cap`."""
    if task_id is None:
        return int(conn.execute(_WAITING_ALL, {"cap": cap}).scalar_one())
    return int(conn.execute(_WAITING_OF_TASK, {"cap": cap, "tid": task_id}).scalar_one())


def lock_queue(conn: Connection) -> None:
    """Hold, until this transaction ends, the right to count waiting executions and add to
    them: on PostgreSQL a lock that makes concurrent starts take turns (so two cannot both see
    the last free place); on SQLite the write transaction (BEGIN IMMEDIATE) already does."""
    if conn.dialect.name == "postgresql":
        conn.execute(_LOCK_QUEUE)


# What a claim reads of each due execution: the task's snapshot as stored text (parsed once
# per distinct text, store/specs.py), not decoded for every candidate.
_CLAIM_COLUMNS = (
    executions.c.id,
    executions.c.task_id,
    spec_text(executions.c.task_spec, "task_spec"),
    executions.c.params,
    executions.c.attempt_count,
    executions.c.started_at,
    executions.c.log_size,
    executions.c.origin,
    executions.c.created_at,
    executions.c.parent_id,
    executions.c.phase,
    executions.c.chain_id,
    executions.c.triggered_by,
    executions.c.chain_depth,
)


def _due_statuses() -> sa.ColumnElement[bool]:
    # Constants in the SQL text, not a list of values: SQLAlchemy renders a list anew into the
    # SQL at every execution (a "post-compile" parameter), and such a statement cannot be
    # prepared once (store/prepared.py). The same IN as before: the planner's choices stay.
    due = (Status.QUEUED, Status.RETRY)
    return executions.c.status.in_([sa.literal_column(f"'{s.value}'") for s in due])


def _claimable(*, skipping: bool, locking: bool, one: bool = False) -> sa.Select[Any]:
    query = sa.select(*_CLAIM_COLUMNS).where(
        _due_statuses(),
        sa.or_(executions.c.not_before.is_(None), executions.c.not_before <= sa.bindparam("now")),
    )
    if skipping:
        # Its list stays a post-compile parameter: a claim passes here only when a task it
        # looked at was at its limit, and then runs it through `execute`.
        query = query.where(executions.c.task_id.not_in(sa.bindparam("skip", expanding=True)))
    if one:
        query = query.where(executions.c.id == sa.bindparam("only"))
    query = query.order_by(executions.c.created_at, executions.c.id).limit(sa.bindparam("limit"))
    return query.with_for_update(skip_locked=True) if locking else query


# The dispatcher asks this on every wake-up: built once per variant (PostgreSQL locks rows),
# and run on the driver's cursor.
_CLAIMABLE = {
    (skipping, locking): PreparedQuery(_claimable(skipping=skipping, locking=locking))
    for skipping in (False, True)
    for locking in (False, True)
}
# A Celery worker claims the one execution its message names.
_CLAIMABLE_ONE = PreparedQuery(_claimable(skipping=False, locking=True, one=True))


def claimable(
    conn: Connection,
    now: datetime,
    limit: int,
    skip_tasks: Iterable[str] = (),
    only: str | None = None,
) -> list[Record]:
    """Executions due to run, oldest first, leaving out tasks already at their limit (`only`:
    just that execution, if it is due); each row's `task_spec` is the stored text
    (`specs.task_of_snapshot` parses it)."""
    if only is not None:
        return _CLAIMABLE_ONE.rows(conn, {"now": now, "limit": limit, "only": only})
    skip = list(skip_tasks)
    query = _CLAIMABLE[bool(skip), conn.dialect.name == "postgresql"]
    params: dict[str, Any] = {"now": now, "limit": limit}
    if skip:
        params["skip"] = skip
    return query.rows(conn, params)
