"""The Celery executor's bookkeeping: which due executions have had a message sent, and
which still wait for a worker."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from taskgate.domain.status import Status
from taskgate.store.tables import UNPUBLISHED, executions

_WAITING = [Status.QUEUED.value, Status.RETRY.value]
_DUE = sa.or_(executions.c.not_before.is_(None), executions.c.not_before <= sa.bindparam("now"))


# One node at a time sweeps: the others find the lock taken and skip that round.
_SWEEP_LOCK = sa.text("SELECT pg_try_advisory_xact_lock(hashtextextended('taskgate.sweep', 0))")


def sweep_lock(conn: Connection) -> bool:
    """This transaction's turn to sweep (PostgreSQL: until it ends)."""
    return bool(conn.execute(_SWEEP_LOCK).scalar())


@dataclass(frozen=True)
class ToPublish:
    execution_id: str
    route: str | None


def _route(row: Any) -> str | None:
    spec = row.task_spec or {}
    route = spec.get("route") if isinstance(spec, dict) else None
    return route if isinstance(route, str) else None


def due_query(limit: int, *, sent_before: datetime | None = None) -> sa.Select[Any]:
    """The due executions never published (`sent_before` None), or published before
    `sent_before` and still waiting, oldest first, locked; `now` is bound at execution.
    The first, asked every second, reads the partial index ix_executions_unpublished: its
    condition is written as the index's, with literal statuses."""
    query = sa.select(executions.c.id, executions.c.task_spec).where(_DUE)
    if sent_before is None:
        query = query.where(UNPUBLISHED)
    else:
        query = query.where(executions.c.status.in_(_WAITING))
        query = query.where(executions.c.published_at < sent_before)
    return query.order_by(executions.c.created_at).limit(limit).with_for_update(skip_locked=True)


@functools.cache
def take_query(limit: int) -> sa.Update:
    """`due_query`'s never published executions, marked published in the same statement (one
    round trip in every start's transaction instead of a SELECT and an UPDATE); returns each
    one's id, task and `created_at`; `now` is bound at execution. Built once per limit: it is
    in every start's transaction, and building it anew cost as much as running it
    (bench/README.md, issue 18's hops)."""
    chosen = due_query(limit).with_only_columns(executions.c.id).scalar_subquery()
    return (
        executions.update()
        # = ANY(ARRAY(...)): the subquery runs once, and the rows it names are found by their
        # key; with IN (...) PostgreSQL may hash-join it against a scan of the whole table.
        .where(executions.c.id == sa.any_(sa.func.array(chosen)))
        .values(published_at=sa.bindparam("now"))
        .returning(executions.c.id, executions.c.task_spec, executions.c.created_at)
    )


def take_due(
    conn: Connection,
    now: datetime,
    limit: int,
    *,
    sent_before: datetime | None = None,
    keep: Callable[[ToPublish], bool] | None = None,
) -> list[ToPublish]:
    """Due executions to publish, oldest first, marked as published now: those never
    published (None), or those published before `sent_before` and still not claimed (the
    sweep). Rows another transaction is taking are skipped, so two nodes never publish the
    same batch."""
    if sent_before is None and keep is None:
        rows = sorted(conn.execute(take_query(limit), {"now": now}), key=lambda r: r.created_at)
        return [ToPublish(r.id, _route(r)) for r in rows]
    query = due_query(limit, sent_before=sent_before)
    found = [ToPublish(r.id, _route(r)) for r in conn.execute(query, {"now": now})]
    if keep is not None:
        found = [item for item in found if keep(item)]
    if not found:
        return []
    conn.execute(
        executions.update()
        .where(executions.c.id.in_([item.execution_id for item in found]))
        .values(published_at=now)
    )
    return found


def route_of(conn: Connection, execution_id: str) -> str | None:
    """The route of an execution's task, as it was when it was started (None: default)."""
    row = conn.execute(
        sa.select(executions.c.task_spec).where(executions.c.id == execution_id)
    ).first()
    return None if row is None else _route(row)


@dataclass(frozen=True)
class Waiting:
    route: str | None
    count: int
    oldest: datetime | None


def waiting_by_route(conn: Connection, now: datetime) -> list[Waiting]:
    """Due executions that no worker has claimed yet, per route."""
    rows = conn.execute(
        sa.select(executions.c.task_spec, executions.c.created_at).where(
            executions.c.status.in_(_WAITING), _DUE
        ),
        {"now": now},
    )
    counts: dict[str | None, tuple[int, datetime | None]] = {}
    for row in rows:
        route = _route(row)
        count, oldest = counts.get(route, (0, None))
        first = row.created_at if oldest is None else min(oldest, row.created_at)
        counts[route] = (count + 1, first)
    return [Waiting(route, c, o) for route, (c, o) in counts.items()]


def forget_all(conn: Connection, execution_ids: list[str]) -> None:
    """Their messages could not be sent: publish them again."""
    conn.execute(
        executions.update()
        .where(executions.c.id.in_(execution_ids), executions.c.status.in_(_WAITING))
        .values(published_at=None)
    )


def release_waiting(conn: Connection, task_id: str, count: int) -> int:
    """A run of this task ended, freeing a slot: its oldest executions left waiting for one
    (their message was dropped while the task was full) get a message again."""
    oldest = (
        sa.select(executions.c.id)
        .where(
            executions.c.task_id == task_id,
            executions.c.status == Status.QUEUED.value,
            executions.c.published_at.is_not(None),
        )
        .order_by(executions.c.created_at)
        .limit(count)
        .scalar_subquery()
    )
    done = conn.execute(
        executions.update().where(executions.c.id.in_(oldest)).values(published_at=None)
    )
    return done.rowcount
