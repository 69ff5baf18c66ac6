"""Stored answers to requests that carried an Idempotency-Key."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from taskgate.store.tables import idempotency_keys


async def get(conn: AsyncConnection, scope: str, key: str) -> sa.Row[Any] | None:
    query = sa.select(idempotency_keys).where(
        idempotency_keys.c.scope == scope, idempotency_keys.c.key == key
    )
    return (await conn.execute(query)).first()


async def put(
    conn: AsyncConnection,
    *,
    scope: str,
    key: str,
    request_hash: str,
    response: dict[str, Any],
    at: datetime,
) -> None:
    await conn.execute(
        idempotency_keys.insert().values(
            scope=scope, key=key, request_hash=request_hash, response=response, created_at=at
        )
    )


async def purge_before(conn: AsyncConnection, cutoff: datetime) -> int:
    result = await conn.execute(
        idempotency_keys.delete().where(idempotency_keys.c.created_at < cutoff)
    )
    return int(result.rowcount)
