"""Key-value rows. Expired entries count as absent everywhere; the sweep deletes them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from taskgate.domain.kv import KvEntry
from taskgate.store.conflicts import conflict_insert
from taskgate.store.tables import kv_entries, kv_namespaces


def _live(now: datetime) -> sa.ColumnElement[bool]:
    return sa.or_(kv_entries.c.expires_at.is_(None), kv_entries.c.expires_at > now)


def namespace_id(conn: Connection, name: str) -> int | None:
    query = sa.select(kv_namespaces.c.id).where(kv_namespaces.c.name == name)
    return conn.execute(query).scalar()


def ensure_namespace(conn: Connection, name: str, now: datetime) -> int:
    found = namespace_id(conn, name)
    if found is not None:
        return found
    conn.execute(
        conflict_insert(conn, kv_namespaces)
        .values(name=name, created_at=now)
        .on_conflict_do_nothing()
    )
    created = namespace_id(conn, name)
    assert created is not None
    return created


def namespaces(conn: Connection) -> list[str]:
    query = sa.select(kv_namespaces.c.name).order_by(kv_namespaces.c.id)
    return list(conn.execute(query).scalars())


def namespace_sizes(conn: Connection, now: datetime) -> list[tuple[str, int]]:
    """Every namespace with its number of live keys, in creation order."""
    live = sa.and_(kv_entries.c.namespace_id == kv_namespaces.c.id, _live(now))
    query = (
        sa.select(kv_namespaces.c.name, sa.func.count(kv_entries.c.key))
        .select_from(kv_namespaces.outerjoin(kv_entries, live))
        .group_by(kv_namespaces.c.id, kv_namespaces.c.name)
        .order_by(kv_namespaces.c.id)
    )
    return [(name, int(count)) for name, count in conn.execute(query)]


def namespace_count(conn: Connection) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(kv_namespaces)).scalar_one())


def count_live(conn: Connection, ns_id: int, now: datetime) -> int:
    query = (
        sa.select(sa.func.count())
        .select_from(kv_entries)
        .where(kv_entries.c.namespace_id == ns_id, _live(now))
    )
    return int(conn.execute(query).scalar_one())


def _entry(namespace: str, row: sa.Row[Any]) -> KvEntry:
    return KvEntry(namespace, row.key, row.value, row.expires_at, row.updated_at, row.secret)


def get(conn: Connection, ns_id: int, namespace: str, key: str, now: datetime) -> KvEntry | None:
    query = sa.select(kv_entries).where(
        kv_entries.c.namespace_id == ns_id, kv_entries.c.key == key, _live(now)
    )
    row = conn.execute(query).first()
    return _entry(namespace, row) if row else None


def entries(conn: Connection, ns_id: int, namespace: str, now: datetime) -> list[KvEntry]:
    query = (
        sa.select(kv_entries)
        .where(kv_entries.c.namespace_id == ns_id, _live(now))
        .order_by(kv_entries.c.key)
    )
    return [_entry(namespace, row) for row in conn.execute(query)]


def upsert(
    conn: Connection,
    ns_id: int,
    key: str,
    value: str,
    expires_at: datetime | None,
    now: datetime,
    secret: bool = False,
) -> None:
    values = {"value": value, "expires_at": expires_at, "updated_at": now, "secret": secret}
    conn.execute(
        conflict_insert(conn, kv_entries)
        .values(namespace_id=ns_id, key=key, **values)
        .on_conflict_do_update(index_elements=["namespace_id", "key"], set_=values)
    )


def delete(conn: Connection, ns_id: int, key: str, now: datetime) -> bool:
    """Delete a live key; an expired one is already gone as far as callers can tell."""
    result = conn.execute(
        kv_entries.delete().where(
            kv_entries.c.namespace_id == ns_id, kv_entries.c.key == key, _live(now)
        )
    )
    return bool(result.rowcount)


def drop_namespace(conn: Connection, ns_id: int) -> None:
    conn.execute(kv_entries.delete().where(kv_entries.c.namespace_id == ns_id))
    conn.execute(kv_namespaces.delete().where(kv_namespaces.c.id == ns_id))


def purge_expired(conn: Connection, now: datetime) -> int:
    result = conn.execute(
        kv_entries.delete().where(
            kv_entries.c.expires_at.is_not(None), kv_entries.c.expires_at <= now
        )
    )
    return int(result.rowcount)
