"""Task rows: the definition as JSON, tags and properties beside it for lookups."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from taskgate.domain.selectors import Selector, SelectorKind, normalize_task_id
from taskgate.domain.tasks import Task
from taskgate.store.prepared import PreparedQuery, Record
from taskgate.store.specs import spec_text, task_of_row
from taskgate.store.tables import task_properties, task_tags, tasks

# Every task read here comes with its definition as stored text: parsed once per text.
_TASKS: sa.Select[Any] = sa.select(
    *(column for column in tasks.c if column.key != "spec"), spec_text(tasks.c.spec, "spec")
)


def _task(row: Record) -> Task:
    return task_of_row(
        row.spec,
        {
            "id": row.id,
            "source": row.source,
            "created_at": row.created_at,
            "updated_at": row.updated_at,
        },
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


_BY_ID = _TASKS.where(tasks.c.id == sa.bindparam("ref"))
_BY_LABEL = _TASKS.where(tasks.c.label == sa.bindparam("ref"))


def get(conn: Connection, ref: str) -> Task | None:
    """By id (any case) or by label."""
    task_id = normalize_task_id(ref)
    query = _BY_ID if task_id else _BY_LABEL
    row = conn.execute(query, {"ref": task_id or ref}).first()
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
    query = _TASKS
    if tag is not None:
        query = query.where(
            tasks.c.id.in_(sa.select(task_tags.c.task_id).where(task_tags.c.tag == tag))
        )
    if enabled is not None:
        query = query.where(tasks.c.enabled == enabled)
    total = (conn.execute(sa.select(sa.func.count()).select_from(query.subquery()))).scalar_one()
    rows = conn.execute(query.order_by(tasks.c.name, tasks.c.id).limit(limit).offset(offset))
    return [_task(r) for r in rows], total


def all_tasks(conn: Connection) -> list[Task]:
    return [_task(r) for r in conn.execute(_TASKS.order_by(tasks.c.name, tasks.c.id))]


def of_source(conn: Connection, source: str) -> list[Task]:
    rows = conn.execute(_TASKS.where(tasks.c.source == source).order_by(tasks.c.id))
    return [_task(r) for r in rows]


_ORDER = (tasks.c.name, tasks.c.id)
# Every start resolves its selectors here: run on the driver's cursor (store/prepared.py).
_FIND: dict[SelectorKind, PreparedQuery] = {
    kind: PreparedQuery(query)
    for kind, query in {
        SelectorKind.ID: _TASKS.where(tasks.c.id == sa.bindparam("v")).order_by(*_ORDER),
        SelectorKind.LABEL: _TASKS.where(tasks.c.label == sa.bindparam("v")).order_by(*_ORDER),
        SelectorKind.NAME: _TASKS.where(tasks.c.name == sa.bindparam("v")).order_by(*_ORDER),
        SelectorKind.TAG: _TASKS.where(
            tasks.c.id.in_(
                sa.select(task_tags.c.task_id).where(task_tags.c.tag == sa.bindparam("v"))
            )
        ).order_by(*_ORDER),
        SelectorKind.PROPERTY: _TASKS.where(
            tasks.c.id.in_(
                sa.select(task_properties.c.task_id).where(
                    task_properties.c.name == sa.bindparam("n"),
                    task_properties.c.value == sa.bindparam("v"),
                )
            )
        ).order_by(*_ORDER),
    }.items()
}


def find(conn: Connection, selector: Selector) -> list[Task]:
    """The tasks one selector names, in a stable order."""
    kind, value = selector.kind, selector.value
    if kind is SelectorKind.AUTO:
        task_id = normalize_task_id(value)
        if task_id is None:
            by_label = find(conn, Selector(SelectorKind.LABEL, value))
            return by_label or find(conn, Selector(SelectorKind.NAME, value))
        kind = SelectorKind.ID
    if kind is SelectorKind.ID:
        value = normalize_task_id(value) or value
    if kind is SelectorKind.NAME and selector.ignore_case:
        # Case folding is Python's (full Unicode); SQLite's lower() knows only ASCII.
        return [task for task in all_tasks(conn) if selector.names(task.name)]
    params = (
        {"v": value, "n": selector.property_name} if kind is SelectorKind.PROPERTY else {"v": value}
    )
    return [_task(r) for r in _FIND[kind].rows(conn, params)]
