"""Stored answers to requests that carried an Idempotency-Key."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from taskgate.store.tables import idempotency_keys


def get(conn: Connection, scope: str, key: str) -> sa.Row[Any] | None:
    query = sa.select(idempotency_keys).where(
        idempotency_keys.c.scope == scope, idempotency_keys.c.key == key
    )
    return (conn.execute(query)).first()


def put(
    conn: Connection,
    *,
    scope: str,
    key: str,
    request_hash: str,
    response: dict[str, Any],
    at: datetime,
) -> None:
    conn.execute(
        idempotency_keys.insert().values(
            scope=scope, key=key, request_hash=request_hash, response=response, created_at=at
        )
    )


def purge_before(conn: Connection, cutoff: datetime) -> int:
    result = conn.execute(idempotency_keys.delete().where(idempotency_keys.c.created_at < cutoff))
    return int(result.rowcount)
