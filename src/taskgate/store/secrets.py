"""Server secrets: values every server process on one database must share."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects import sqlite

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
    if conn.dialect.name == "postgresql":
        # Imported here: on SQLite, PostgreSQL's dialect would cost ~1.4 MiB of idle memory.
        from sqlalchemy.dialects import postgresql

        insert: sa.Insert = postgresql.insert(server_secrets).on_conflict_do_nothing()
    else:
        insert = sqlite.insert(server_secrets).on_conflict_do_nothing()
    conn.execute(insert.values(name=name, value=make(), created_at=now))
    stored = get(conn, name)
    assert stored is not None
    return stored
