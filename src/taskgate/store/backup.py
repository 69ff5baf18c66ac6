"""A consistent copy of the SQLite database while servers keep using it: SQLite's online
backup API copies the pages under one read transaction, which in WAL mode never blocks the
writers. (PostgreSQL has its own tools: pg_dump.)"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

from taskgate.domain.errors import InvalidInput

PG_DUMP_HINT = (
    "the database is PostgreSQL: back it up with pg_dump, e.g. "
    "pg_dump --format=custom --file taskgate.dump '{url}' (restore with pg_restore; "
    "docs/operations.md#backup-and-restore)"
)


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL; None for any other database."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite"):
        return None
    return Path(parsed.database) if parsed.database and parsed.database != ":memory:" else None


def backup_sqlite(source: Path, target: Path) -> int:
    """Copy the database at `source` to `target` (readable by this user only), checked, and
    put in place atomically; returns the copy's size in bytes."""
    if not source.is_file():
        raise InvalidInput(f"no database at {source}", field="database")
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.close(fd)
    try:
        # mode=rw: never makes a database where none is. (Read-only would need the -shm file
        # of a WAL database to exist already.) The backup only reads.
        live_uri = f"{source.resolve().as_uri()}?mode=rw"
        with (
            contextlib.closing(sqlite3.connect(live_uri, uri=True)) as live,
            contextlib.closing(sqlite3.connect(partial)) as copy,
        ):
            live.execute("PRAGMA busy_timeout=10000")
            live.backup(copy)
            # A copy that is a single file: no -wal beside it to carry around.
            copy.execute("PRAGMA journal_mode=DELETE")
            problem = copy.execute("PRAGMA integrity_check").fetchone()[0]
            if problem != "ok":
                raise InvalidInput(f"the copy fails SQLite's integrity check: {problem}")
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return target.stat().st_size
