"""Schedule rows (the spec as JSON, the next slot beside it) and their fire history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from taskgate.schedules.spec import HistoryEntry, Schedule, ScheduleSpec
from taskgate.store.tables import UTCDateTime, schedule_history, schedules, tasks

_COLUMNS = (*schedules.c, tasks.c.name.label("task_name"))
_SELECT = sa.select(*_COLUMNS).select_from(
    schedules.outerjoin(tasks, tasks.c.id == schedules.c.task_id)
)


def _schedule(row: sa.Row[Any]) -> Schedule:
    if not row.enabled:
        state = "paused"
    elif row.next_slot is None:
        state = "ended"
    else:
        state = "active"
    return Schedule.model_validate(
        {
            **row.spec,
            "id": row.id,
            "name": row.name,
            "task": row.task_id,
            "task_name": row.task_name or "",
            "source": row.source,
            "enabled": row.enabled,
            "state": state,
            "next_slot": row.next_slot,
            "next_fire_at": row.next_fire_at,
            "last_slot": row.last_slot,
            "fire_count": row.fire_count,
            "created_at": row.created_at,
            "updated_at": row.updated_at,
        }
    )


def spec_json(schedule: Schedule) -> dict[str, Any]:
    """What the `spec` column keeps: the spec fields the columns do not."""
    return schedule.model_dump(
        mode="json",
        include=set(ScheduleSpec.model_fields) - {"id", "name", "task", "enabled"},
    )


def insert(conn: Connection, schedule: Schedule) -> None:
    conn.execute(schedules.insert().values(**_values(schedule), created_at=schedule.created_at))


def update(conn: Connection, schedule: Schedule) -> None:
    conn.execute(
        schedules.update().where(schedules.c.id == schedule.id).values(**_values(schedule))
    )


def _values(schedule: Schedule) -> dict[str, Any]:
    return {
        "id": schedule.id,
        "name": schedule.name,
        "task_id": schedule.task,
        "source": schedule.source,
        "enabled": schedule.enabled,
        "spec": spec_json(schedule),
        "next_slot": schedule.next_slot,
        "next_fire_at": schedule.next_fire_at,
        "last_slot": schedule.last_slot,
        "fire_count": schedule.fire_count,
        "updated_at": schedule.updated_at,
    }


_SET_NEXT = (
    schedules.update()
    .where(schedules.c.id == sa.bindparam("sid"))
    .values(
        next_slot=sa.bindparam("next_slot"),
        next_fire_at=sa.bindparam("next_fire_at"),
        last_slot=sa.func.coalesce(sa.bindparam("last", type_=UTCDateTime), schedules.c.last_slot),
        fire_count=schedules.c.fire_count + sa.bindparam("fired"),
    )
)


def set_next(conn: Connection, moves: list[dict[str, Any]]) -> None:
    """Move schedules on: each dict has sid, next_slot, next_fire_at, last (or None), fired."""
    if moves:
        conn.execute(_SET_NEXT, moves)


def delete(conn: Connection, schedule_id: str) -> None:
    conn.execute(schedule_history.delete().where(schedule_history.c.schedule_id == schedule_id))
    conn.execute(schedules.delete().where(schedules.c.id == schedule_id))


_BY_ID = _SELECT.where(schedules.c.id == sa.bindparam("id"))


def get(conn: Connection, schedule_id: str, *, lock: bool = False) -> Schedule | None:
    query = _BY_ID.with_for_update(of=schedules) if lock else _BY_ID
    row = conn.execute(query, {"id": schedule_id}).first()
    return _schedule(row) if row else None


def listing(
    conn: Connection,
    *,
    task_id: str | None = None,
    enabled: bool | None = None,
    source: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[Schedule], int]:
    query = _SELECT
    if task_id is not None:
        query = query.where(schedules.c.task_id == task_id)
    if enabled is not None:
        query = query.where(schedules.c.enabled == enabled)
    if source is not None:
        query = query.where(schedules.c.source == source)
    total = conn.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()
    rows = conn.execute(
        query.order_by(schedules.c.name, schedules.c.id).limit(limit).offset(offset)
    )
    return [_schedule(r) for r in rows], total


_DUE = (
    _SELECT.where(
        schedules.c.enabled.is_(True),
        schedules.c.next_fire_at <= sa.bindparam("now"),
    )
    .order_by(schedules.c.next_fire_at)
    .limit(sa.bindparam("limit"))
    # Several scheduler processes may look at once: each takes the rows no one else holds,
    # and a row another one has just moved no longer matches when its lock is released.
    .with_for_update(of=schedules, skip_locked=True)
)


def claim_due(conn: Connection, now: datetime, limit: int) -> list[Schedule]:
    return [_schedule(r) for r in conn.execute(_DUE, {"now": now, "limit": limit})]


_NEXT_DUE = sa.select(sa.func.min(schedules.c.next_fire_at)).where(
    schedules.c.enabled.is_(True), schedules.c.next_fire_at.is_not(None)
)


def next_due(conn: Connection) -> datetime | None:
    # MIN() keeps the column's type, so the value comes back as an aware UTC datetime.
    value: datetime | None = conn.execute(_NEXT_DUE).scalar()
    return value


_NEXT_BY_TASK = (
    sa.select(schedules.c.task_id, sa.func.min(schedules.c.next_slot))
    .where(
        schedules.c.enabled.is_(True),
        schedules.c.next_slot.is_not(None),
        schedules.c.task_id.in_(sa.bindparam("tids", expanding=True)),
    )
    .group_by(schedules.c.task_id)
)


def next_slot_by_task(conn: Connection, task_ids: list[str]) -> dict[str, datetime]:
    """When each task is next due by any of its enabled schedules; unscheduled tasks left out."""
    found: dict[str, datetime] = {}
    for start in range(0, len(task_ids), 500):
        rows = conn.execute(_NEXT_BY_TASK, {"tids": task_ids[start : start + 500]})
        found.update({task_id: slot for task_id, slot in rows})
    return found


_HISTORY = schedule_history.insert()


def add_history(conn: Connection, entries: list[dict[str, Any]]) -> None:
    if entries:
        conn.execute(_HISTORY, entries)


def history(
    conn: Connection, schedule_id: str, *, limit: int, before: int | None = None
) -> list[HistoryEntry]:
    query = sa.select(schedule_history).where(schedule_history.c.schedule_id == schedule_id)
    if before is not None:
        query = query.where(schedule_history.c.id < before)
    rows = conn.execute(query.order_by(schedule_history.c.id.desc()).limit(limit))
    return [HistoryEntry.model_validate(dict(r._mapping)) for r in rows]
