"""The audit log: who did what to which, append-only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from taskgate.store.tables import audit_log


async def record(
    conn: AsyncConnection,
    *,
    at: datetime,
    actor: str,
    action: str,
    target: str,
    details: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        audit_log.insert().values(
            at=at, actor=actor, action=action, target=target[:200], details=details or {}
        )
    )


async def recent(conn: AsyncConnection, limit: int) -> list[dict[str, Any]]:
    rows = await conn.execute(sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit))
    return [dict(r._mapping) for r in rows]
