"""Stored answers to requests that carried an Idempotency-Key."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from taskgate.store.prepared import Prepared
from taskgate.store.tables import idempotency_keys

_GET = sa.select(idempotency_keys).where(
    idempotency_keys.c.scope == sa.bindparam("s"), idempotency_keys.c.key == sa.bindparam("k")
)
_PUT = idempotency_keys.insert()
# A start batch's keys: its rows in one statement on PostgreSQL (store/prepared.py).
_PUT_MANY = Prepared(_PUT)


def get(conn: Connection, scope: str, key: str) -> sa.Row[Any] | None:
    return conn.execute(_GET, {"s": scope, "k": key}).first()


def existing(conn: Connection, pairs: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of these (scope, key) pairs are stored."""
    found: set[tuple[str, str]] = set()
    by_scope: dict[str, list[str]] = {}
    for scope, key in pairs:
        by_scope.setdefault(scope, []).append(key)
    for scope, keys in by_scope.items():
        for i in range(0, len(keys), 500):
            query = sa.select(idempotency_keys.c.key).where(
                idempotency_keys.c.scope == scope, idempotency_keys.c.key.in_(keys[i : i + 500])
            )
            found.update((scope, k) for (k,) in conn.execute(query))
    return found


def put_many(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Rows of {scope, key, request_hash, response, created_at}."""
    _PUT_MANY.execute_many(conn, rows)


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
        _PUT,
        {
            "scope": scope,
            "key": key,
            "request_hash": request_hash,
            "response": response,
            "created_at": at,
        },
    )


def purge_before(conn: Connection, cutoff: datetime) -> int:
    result = conn.execute(idempotency_keys.delete().where(idempotency_keys.c.created_at < cutoff))
    return int(result.rowcount)
