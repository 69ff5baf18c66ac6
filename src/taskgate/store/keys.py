"""API key rows."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from taskgate.store.tables import api_keys


async def insert(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(api_keys.insert().values(**values))


async def by_prefix(conn: AsyncConnection, prefix: str) -> sa.Row[Any] | None:
    return (await conn.execute(sa.select(api_keys).where(api_keys.c.prefix == prefix))).first()


async def by_ref(conn: AsyncConnection, ref: str) -> sa.Row[Any] | None:
    query = sa.select(api_keys).where(sa.or_(api_keys.c.id == ref, api_keys.c.prefix == ref))
    return (await conn.execute(query)).first()


async def all_keys(conn: AsyncConnection) -> list[sa.Row[Any]]:
    return list(await conn.execute(sa.select(api_keys).order_by(api_keys.c.created_at)))


async def count_usable(conn: AsyncConnection) -> int:
    query = sa.select(sa.func.count()).where(api_keys.c.revoked_at.is_(None))
    return int((await conn.execute(query)).scalar_one())


async def update(conn: AsyncConnection, key_id: str, **values: Any) -> None:
    await conn.execute(api_keys.update().where(api_keys.c.id == key_id).values(**values))
