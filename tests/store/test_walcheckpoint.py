"""A server's SQLite log is copied into the database file by a thread of its own, not by the
commits of the event loop (store/walcheckpoint.py)."""

import asyncio
import shutil
import sqlite3
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import Connection

from taskgate.store.db import Database
from tests.support import wait_until

ROWS = 3000  # with 1 KiB each, several times SQLite's own 1,000-page threshold


def _rows_in_file_alone(db_file: Path, tmp_path: Path) -> int:
    """What the database file holds without its write-ahead log: what was checkpointed."""
    copy = tmp_path / "copy.db"
    shutil.copyfile(db_file, copy)
    conn = sqlite3.connect(copy)
    try:
        return int(conn.execute("SELECT count(*) FROM probe").fetchone()[0])
    except sqlite3.DatabaseError:
        # The table is still only in the log, or the copy caught the file half-written.
        return 0
    finally:
        conn.close()
        copy.unlink()


def _autocheckpoint(conn: Connection) -> int:
    return int(conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one())


def test_the_log_reaches_the_database_file_without_the_servers_commits_copying_it(
    tmp_path: Path,
) -> None:
    db_file = tmp_path / "data" / "taskgate.db"

    async def main() -> None:
        db = Database(f"sqlite:///{db_file}")
        try:
            assert await db.read(_autocheckpoint) == 1000  # SQLite's own, until a server asks
            db.checkpoint_in_background()
            assert await db.read(_autocheckpoint) == 0

            def fill(conn: Connection) -> None:
                conn.execute(sa.text("CREATE TABLE probe (n integer, pad blob)"))
                conn.execute(
                    sa.text("INSERT INTO probe VALUES (:n, randomblob(1024))"),
                    [{"n": n} for n in range(ROWS)],
                )

            await db.write(fill)
            counted = await asyncio.to_thread(
                wait_until,
                lambda: _rows_in_file_alone(db_file, tmp_path) == ROWS,
                what="the rows copied into the database file",
            )
            assert counted
        finally:
            await db.close()

    asyncio.run(main())


def test_a_database_not_asked_keeps_sqlites_own_checkpoints(tmp_path: Path) -> None:
    async def main() -> None:
        db = Database(f"sqlite:///{tmp_path / 'cli.db'}")
        try:
            assert await db.read(_autocheckpoint) == 1000
        finally:
            await db.close()

    asyncio.run(main())
