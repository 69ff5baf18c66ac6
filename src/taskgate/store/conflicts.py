"""INSERT … ON CONFLICT in the connection's own dialect, for rows two writers may create at once."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects import sqlite


def conflict_insert(conn: Connection, table: sa.Table) -> Any:
    """An INSERT on `table` that can say `on_conflict_do_nothing` / `on_conflict_do_update`."""
    if conn.dialect.name == "postgresql":
        # Imported here: on SQLite, PostgreSQL's dialect would cost ~1.4 MiB of idle memory.
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    return sqlite.insert(table)
