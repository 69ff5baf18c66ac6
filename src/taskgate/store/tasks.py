"""Task rows: the definition as JSON, tags and properties beside it for lookups."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from taskgate.domain.selectors import Selector, SelectorKind, normalize_task_id
from taskgate.domain.tasks import Task
from taskgate.store.tables import task_properties, task_tags, tasks


def _task(row: sa.Row[Any]) -> Task:
    return Task.model_validate(
        {
            **row.spec,
            "id": row.id,
            "source": row.source,
            "created_at": row.created_at,
            "updated_at": row.updated_at,
        }
    )


def save(conn: Connection, task: Task, *, insert: bool) -> None:
    spec = task.model_dump(mode="json", exclude={"id", "source", "created_at", "updated_at"})
    values = {
        "name": task.name,
        "label": task.label,
        "enabled": task.enabled,
        "source": task.source,
        "spec": spec,
        "updated_at": task.updated_at,
    }
    if insert:
        conn.execute(tasks.insert().values(id=task.key, created_at=task.created_at, **values))
    else:
        conn.execute(tasks.update().where(tasks.c.id == task.key).values(**values))
        conn.execute(task_tags.delete().where(task_tags.c.task_id == task.key))
        conn.execute(task_properties.delete().where(task_properties.c.task_id == task.key))
    if task.tags:
        conn.execute(task_tags.insert(), [{"task_id": task.key, "tag": t} for t in task.tags])
    props = [
        {"task_id": task.key, "name": name, "value": value}
        for name, values_ in task.properties.items()
        for value in values_
    ]
    if props:
        conn.execute(task_properties.insert(), props)


def delete(conn: Connection, task_id: str) -> None:
    conn.execute(task_tags.delete().where(task_tags.c.task_id == task_id))
    conn.execute(task_properties.delete().where(task_properties.c.task_id == task_id))
    conn.execute(tasks.delete().where(tasks.c.id == task_id))


def get(conn: Connection, ref: str) -> Task | None:
    """By id (any case) or by label."""
    task_id = normalize_task_id(ref)
    cond = tasks.c.id == task_id if task_id else tasks.c.label == ref
    row = (conn.execute(sa.select(tasks).where(cond))).first()
    return _task(row) if row else None


def label_owner(conn: Connection, label: str) -> str | None:
    return (conn.execute(sa.select(tasks.c.id).where(tasks.c.label == label))).scalar()


def listing(
    conn: Connection,
    *,
    tag: str | None = None,
    enabled: bool | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[Task], int]:
    query = sa.select(tasks)
    if tag is not None:
        query = query.where(
            tasks.c.id.in_(sa.select(task_tags.c.task_id).where(task_tags.c.tag == tag))
        )
    if enabled is not None:
        query = query.where(tasks.c.enabled == enabled)
    total = (conn.execute(sa.select(sa.func.count()).select_from(query.subquery()))).scalar_one()
    rows = conn.execute(query.order_by(tasks.c.name, tasks.c.id).limit(limit).offset(offset))
    return [_task(r) for r in rows], total


def find(conn: Connection, selector: Selector) -> list[Task]:
    """The tasks one selector names, in a stable order."""
    query = sa.select(tasks)
    match selector.kind:
        case SelectorKind.ID:
            query = query.where(tasks.c.id == normalize_task_id(selector.value))
        case SelectorKind.LABEL:
            query = query.where(tasks.c.label == selector.value)
        case SelectorKind.NAME:
            query = query.where(tasks.c.name == selector.value)
        case SelectorKind.TAG:
            query = query.where(
                tasks.c.id.in_(
                    sa.select(task_tags.c.task_id).where(task_tags.c.tag == selector.value)
                )
            )
        case SelectorKind.PROPERTY:
            query = query.where(
                tasks.c.id.in_(
                    sa.select(task_properties.c.task_id).where(
                        task_properties.c.name == selector.property_name,
                        task_properties.c.value == selector.value,
                    )
                )
            )
        case SelectorKind.AUTO:
            task_id = normalize_task_id(selector.value)
            if task_id:
                query = query.where(tasks.c.id == task_id)
            else:
                by_label = find(conn, Selector(SelectorKind.LABEL, selector.value))
                return by_label or find(conn, Selector(SelectorKind.NAME, selector.value))
    rows = conn.execute(query.order_by(tasks.c.name, tasks.c.id))
    return [_task(r) for r in rows]
