"""Reading the audit log (every start, abort, key and config change is written to it by the
service that made the change, in the same transaction)."""

from __future__ import annotations

from typing import Any

from taskgate.store import audit
from taskgate.store.db import Database


async def recent(db: Database, limit: int) -> list[dict[str, Any]]:
    """The newest `limit` records, newest first."""
    return await db.read(lambda conn: audit.recent(conn, limit))
