"""The audit log: who did what to which, append-only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from taskgate.store.prepared import Prepared
from taskgate.store.tables import audit_log

_INSERT = Prepared(audit_log.insert())


def entry(
    *, at: datetime, actor: str, action: str, target: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "at": at,
        "actor": actor,
        "action": action,
        "target": target[:200],
        "details": details or {},
    }


def record_many(conn: Connection, entries: list[dict[str, Any]]) -> None:
    _INSERT.execute_many(conn, entries)


def record(
    conn: Connection,
    *,
    at: datetime,
    actor: str,
    action: str,
    target: str,
    details: dict[str, Any] | None = None,
) -> None:
    _INSERT.execute(conn, entry(at=at, actor=actor, action=action, target=target, details=details))


def recent(conn: Connection, limit: int) -> list[dict[str, Any]]:
    rows = conn.execute(sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit))
    return [dict(r._mapping) for r in rows]
