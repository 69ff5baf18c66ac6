"""Server secrets: values every server process on one database must share."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import Connection

from taskgate.store.conflicts import conflict_insert
from taskgate.store.tables import server_secrets


def get(conn: Connection, name: str) -> str | None:
    query = sa.select(server_secrets.c.value).where(server_secrets.c.name == name)
    return conn.execute(query).scalar()


def get_or_create(conn: Connection, name: str, make: Callable[[], str], now: datetime) -> str:
    """The stored secret; the first process to ask creates it, and every other one reads it
    (two processes starting at once both insert, and the second insert is ignored)."""
    found = get(conn, name)
    if found is not None:
        return found
    conn.execute(
        conflict_insert(conn, server_secrets)
        .values(name=name, value=make(), created_at=now)
        .on_conflict_do_nothing()
    )
    stored = get(conn, name)
    assert stored is not None
    return stored
