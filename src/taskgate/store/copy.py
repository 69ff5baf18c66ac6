"""Copying a whole taskgate database into another (SQLite -> PostgreSQL): every table of the
schema, in the order of its foreign keys, into a destination that has the schema and is empty."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy import Connection

from taskgate.domain.errors import Conflict
from taskgate.store.tables import metadata

CHUNK = 1000


def nonempty_tables(conn: Connection) -> list[str]:
    return [
        table.name
        for table in metadata.sorted_tables
        if conn.execute(sa.select(sa.literal(1)).select_from(table).limit(1)).first()
    ]


def copy_all(
    source: Connection, dest: Connection, progress: Callable[[str, int], None] | None = None
) -> dict[str, int]:
    """Copy every row; the destination must be empty (Conflict naming its tables
    otherwise). Rows per table."""
    taken = nonempty_tables(dest)
    if taken:
        raise Conflict(
            f"the destination database is not empty ({', '.join(taken)}): copy into a new one",
            field="to",
        )
    counts: dict[str, int] = {}
    for table in metadata.sorted_tables:
        copied = 0
        result = source.execution_options(yield_per=CHUNK).execute(sa.select(table))
        for rows in result.partitions(CHUNK):
            dest.execute(table.insert(), [dict(row._mapping) for row in rows])
            copied += len(rows)
        counts[table.name] = copied
        if progress is not None:
            progress(table.name, copied)
    if dest.dialect.name == "postgresql":
        _move_sequences(dest)
    return counts


def _move_sequences(conn: Connection) -> None:
    """Serial ids continue after the copied rows."""
    for table in metadata.sorted_tables:
        for column in table.primary_key.columns:
            if column.autoincrement is not True:
                continue
            sequence = conn.execute(
                sa.text("SELECT pg_get_serial_sequence(:t, :c)"),
                {"t": table.name, "c": column.name},
            ).scalar()
            if sequence:
                conn.execute(
                    sa.text(
                        f'SELECT setval(:s, coalesce((SELECT max("{column.name}") '
                        f'FROM "{table.name}"), 0) + 1, false)'
                    ),
                    {"s": sequence},
                )
