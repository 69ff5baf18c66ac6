"""Which stored history is past its retention, and deleting it in small batches.

Each kind has its rows that may go at all (an execution only once it and every one of its
workflow relatives have ended; a webhook delivery only once it is no longer pending), a time
column for the age limit, and a group for the count limit (per task, schedule, webhook). Age
candidates come from an index on the time column; count candidates from a window function,
run only when a count limit is set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from taskgate.domain.retention import Keep, Kind
from taskgate.domain.status import TERMINAL
from taskgate.domain.webhooks import DeliveryState
from taskgate.store.tables import (
    attempts,
    audit_log,
    execution_logs,
    executions,
    schedule_history,
    webhook_deliveries,
)

_ENDED = [status.value for status in TERMINAL]


def _execution_may_go() -> sa.ColumnElement[bool]:
    """Ended, with no live child (a workflow waiting on its members) and no live parent (which
    may still read this member's result)."""
    relative = executions.alias("relative")
    live_child = (
        sa.select(relative.c.id)
        .where(relative.c.parent_id == executions.c.id, relative.c.status.not_in(_ENDED))
        .exists()
    )
    live_parent = (
        sa.select(relative.c.id)
        .where(relative.c.id == executions.c.parent_id, relative.c.status.not_in(_ENDED))
        .exists()
    )
    return sa.and_(executions.c.status.in_(_ENDED), ~live_child, ~live_parent)


@dataclass(frozen=True)
class _Shape:
    table: sa.Table
    key: sa.Column[Any]
    time: sa.Column[Any]
    group: sa.Column[Any] | None
    # Newest first, for the count limit.
    order: tuple[sa.Column[Any], ...]
    may_go: sa.ColumnElement[bool] | None


_SHAPES: dict[Kind, _Shape] = {
    Kind.EXECUTIONS: _Shape(
        executions,
        executions.c.id,
        executions.c.finished_at,
        executions.c.task_id,
        (executions.c.created_at, executions.c.id),
        _execution_may_go(),
    ),
    Kind.AUDIT: _Shape(audit_log, audit_log.c.id, audit_log.c.at, None, (audit_log.c.id,), None),
    Kind.SCHEDULE_HISTORY: _Shape(
        schedule_history,
        schedule_history.c.id,
        schedule_history.c.recorded_at,
        schedule_history.c.schedule_id,
        (schedule_history.c.id,),
        None,
    ),
    Kind.WEBHOOK_DELIVERIES: _Shape(
        webhook_deliveries,
        webhook_deliveries.c.id,
        webhook_deliveries.c.created_at,
        webhook_deliveries.c.webhook_id,
        (webhook_deliveries.c.id,),
        webhook_deliveries.c.state != DeliveryState.PENDING.value,
    ),
}


def _conditions(shape: _Shape) -> list[sa.ColumnElement[bool]]:
    return [] if shape.may_go is None else [shape.may_go]


def _too_old(shape: _Shape, cutoff: datetime) -> sa.Select[Any]:
    return sa.select(shape.key).where(shape.time < cutoff, *_conditions(shape))


def _past_count(shape: _Shape, count: int) -> sa.Select[Any]:
    """The keys past the newest `count` rows of their group (of the rows that may go)."""
    rank = sa.func.row_number().over(
        partition_by=shape.group, order_by=[column.desc() for column in shape.order]
    )
    ranked = (
        sa.select(shape.key.label("key"), rank.label("rank"))
        .where(*_conditions(shape))
        .subquery("ranked")
    )
    return sa.select(ranked.c.key).where(ranked.c.rank > count)


def candidates(conn: Connection, kind: Kind, keep: Keep, now: datetime, limit: int) -> list[Any]:
    """Up to `limit` keys of rows of `kind` that are past their retention."""
    shape = _SHAPES[kind]
    found: list[Any] = []
    cutoff = keep.cutoff(now)
    if cutoff is not None:
        query = _too_old(shape, cutoff).order_by(shape.time).limit(limit)
        found = list(conn.scalars(query))
    if keep.max_count is not None and len(found) < limit:
        query = _past_count(shape, keep.max_count).limit(limit - len(found))
        seen = set(found)
        found += [key for key in conn.scalars(query) if key not in seen]
    return found


def count(conn: Connection, kind: Kind, keep: Keep, now: datetime) -> int:
    """How many rows of `kind` are past their retention (what a purge would delete now)."""
    shape = _SHAPES[kind]
    parts: list[sa.Select[Any]] = []
    cutoff = keep.cutoff(now)
    if cutoff is not None:
        parts.append(_too_old(shape, cutoff))
    if keep.max_count is not None:
        parts.append(_past_count(shape, keep.max_count))
    if not parts:
        return 0
    keys = sa.union(*parts).subquery("past") if len(parts) > 1 else parts[0].subquery("past")
    return int(conn.scalar(sa.select(sa.func.count()).select_from(keys)) or 0)


def delete(conn: Connection, kind: Kind, keys: Sequence[Any]) -> list[Any]:
    """Delete the rows (an execution with its attempts and log) that may still go; returns the
    keys of those that went."""
    if not keys:
        return []
    shape = _SHAPES[kind]
    # The conditions again, under the write: a relative may have started since the keys were read.
    conn.execute(shape.table.delete().where(shape.key.in_(keys), *_conditions(shape)))
    kept = set(conn.scalars(sa.select(shape.key).where(shape.key.in_(keys))))
    gone = [key for key in keys if key not in kept]
    if kind is Kind.EXECUTIONS and gone:
        conn.execute(attempts.delete().where(attempts.c.execution_id.in_(gone)))
        conn.execute(execution_logs.delete().where(execution_logs.c.execution_id.in_(gone)))
    return gone
