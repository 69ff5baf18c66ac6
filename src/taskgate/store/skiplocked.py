"""Rows that several servers on one database take turns at (due deadlines, overruns, webhook
deliveries): on PostgreSQL each server locks the rows it reads and skips those another holds,
so no two handle the same row; SQLite has one writer at a time, and nothing to skip."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection


def skip_locked(conn: Connection, query: sa.Select[Any]) -> sa.Select[Any]:
    """`query`, locking what it reads and skipping rows others hold, on PostgreSQL."""
    if conn.dialect.name == "postgresql":
        return query.with_for_update(skip_locked=True)
    return query
