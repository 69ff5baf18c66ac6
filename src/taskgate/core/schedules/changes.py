"""Writing one schedule in the caller's transaction: saved (checked against its task, the
caller's allow-list and the task's parameters), paused or resumed, and audited."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from sqlalchemy import Connection

from taskgate.core.clock import utcnow
from taskgate.core.schedules.slots import fire_time, first_slot
from taskgate.domain.allowlist import allows
from taskgate.domain.errors import Forbidden, InvalidInput
from taskgate.domain.executions import Caller
from taskgate.domain.params import validate_params
from taskgate.schedules import triggers
from taskgate.schedules.spec import Schedule, ScheduleSpec
from taskgate.store import audit
from taskgate.store import schedules as rows
from taskgate.store import tasks as task_rows


def save_schedule(
    conn: Connection,
    spec: ScheduleSpec,
    existing: Schedule | None,
    caller: Caller,
    source: Literal["api", "config"],
) -> Schedule:
    task = task_rows.get(conn, spec.task)
    if task is None:
        raise InvalidInput(f"task: no task {spec.task!r} (give its id or label)", field="task")
    if not allows(caller.allowed_tasks, task):
        raise Forbidden(f"task {spec.task!r} is not on this key's allow-list", field="task")
    validate_params(task.params, spec.params)
    now = utcnow()
    created_at = existing.created_at if existing else now
    trigger = triggers.build(spec, created_at)
    schedule_id = spec.id or str(uuid.uuid4())
    unchanged = existing is not None and same_definition(
        existing, spec.model_copy(update={"task": task.key})
    )
    if unchanged and existing is not None:
        next_slot, next_fire_at = existing.next_slot, existing.next_fire_at
    elif spec.enabled:
        next_slot = first_slot(trigger, spec, now)
        next_fire_at = fire_time(next_slot, spec.jitter_seconds)
    else:
        next_slot = next_fire_at = None
    schedule = Schedule.model_validate(
        {
            **spec.model_dump(exclude={"id", "task", "name"}),
            "id": schedule_id,
            "name": spec.name or f"{task.name} ({spec.kind.value})",
            "task": task.key,
            "task_name": task.name,
            "source": source,
            "next_slot": next_slot,
            "next_fire_at": next_fire_at,
            "last_slot": existing.last_slot if existing else None,
            "fire_count": existing.fire_count if existing else 0,
            "created_at": created_at,
            "updated_at": now,
        }
    )
    if existing is None:
        rows.insert(conn, schedule)
    else:
        rows.update(conn, schedule)
    audit_change(
        conn, caller, "schedule.create" if existing is None else "schedule.update", schedule
    )
    saved = rows.get(conn, schedule_id)
    assert saved is not None
    return saved


def set_enabled(conn: Connection, schedule: Schedule, enabled: bool, caller: Caller) -> Schedule:
    """Pausing forgets the next slot; resuming counts from now, so a pause is not a misfire."""
    if schedule.enabled == enabled:
        return schedule
    now = utcnow()
    next_slot: datetime | None = None
    if enabled:
        next_slot = triggers.build(schedule, schedule.created_at).next_after(now)
    changed = schedule.model_copy(
        update={
            "enabled": enabled,
            "next_slot": next_slot,
            "next_fire_at": fire_time(next_slot, schedule.jitter_seconds),
            "updated_at": now,
        }
    )
    rows.update(conn, changed)
    audit_change(conn, caller, "schedule.resume" if enabled else "schedule.pause", changed)
    saved = rows.get(conn, schedule.id)
    assert saved is not None
    return saved


def same_definition(schedule: Schedule, spec: ScheduleSpec) -> bool:
    fields = set(ScheduleSpec.model_fields) - {"id"}
    stored = schedule.model_dump(include=fields)
    given = spec.model_dump(include=fields)
    if not given["name"]:
        given["name"] = stored["name"]
    return bool(stored == given)


def audit_change(conn: Connection, caller: Caller, action: str, schedule: Schedule) -> None:
    audit.record(
        conn,
        at=utcnow(),
        actor=caller.name,
        action=action,
        target=schedule.id,
        details={"name": schedule.name, "task": schedule.task},
    )
