"""API key rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from taskgate.store.tables import api_keys


def insert(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(api_keys.insert().values(**values))


def by_prefix(conn: Connection, prefix: str) -> sa.Row[Any] | None:
    return (conn.execute(sa.select(api_keys).where(api_keys.c.prefix == prefix))).first()


def by_ref(conn: Connection, ref: str) -> sa.Row[Any] | None:
    query = sa.select(api_keys).where(sa.or_(api_keys.c.id == ref, api_keys.c.prefix == ref))
    return (conn.execute(query)).first()


def all_keys(conn: Connection) -> list[sa.Row[Any]]:
    return list(conn.execute(sa.select(api_keys).order_by(api_keys.c.created_at)))


def count_all(conn: Connection) -> int:
    """Keys ever made, revoked ones too."""
    return int(conn.execute(sa.select(sa.func.count()).select_from(api_keys)).scalar_one())


def count_usable(conn: Connection, now: datetime) -> int:
    """Keys neither revoked nor expired at `now`."""
    query = sa.select(sa.func.count()).where(
        api_keys.c.revoked_at.is_(None),
        sa.or_(api_keys.c.expires_at.is_(None), api_keys.c.expires_at > now),
    )
    return int((conn.execute(query)).scalar_one())


def update(conn: Connection, key_id: str, **values: Any) -> None:
    conn.execute(api_keys.update().where(api_keys.c.id == key_id).values(**values))
