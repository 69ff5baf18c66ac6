"""`Database.read` runs in one snapshot: a read of several statements is consistent."""

import asyncio
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from taskgate.store.db import Database, sync_url
from tests.conftest import Backend


def postgres_url(backend: Backend, tmp_path: Path) -> str:
    url = backend.new_database(tmp_path)
    if url is None:
        pytest.skip("SQLite has one connection and runs one unit of work at a time")
    return url


def test_a_read_does_not_see_what_commits_while_it_runs(backend: Backend, tmp_path: Path) -> None:
    url = postgres_url(backend, tmp_path)
    other = sa.create_engine(sync_url(url))
    with other.begin() as conn:
        conn.execute(sa.text("CREATE TABLE probe (n integer)"))
        conn.execute(sa.text("INSERT INTO probe VALUES (1)"))

    def read_twice(conn: Connection) -> tuple[int, int]:
        first = conn.execute(sa.text("SELECT n FROM probe")).scalar_one()
        with other.begin() as writer:  # commits between the two statements
            writer.execute(sa.text("UPDATE probe SET n = 2"))
        return first, conn.execute(sa.text("SELECT n FROM probe")).scalar_one()

    async def main() -> None:
        db = Database(url)
        try:
            assert await db.read(read_twice) == (1, 1)
            assert await db.read(lambda c: c.execute(sa.text("SELECT n FROM probe")).scalar()) == 2
            with pytest.raises(DBAPIError, match="read-only transaction"):
                await db.read(lambda c: c.execute(sa.text("UPDATE probe SET n = 3")))
            await db.write(lambda c: c.execute(sa.text("UPDATE probe SET n = 4")))
            assert await db.read(lambda c: c.execute(sa.text("SELECT n FROM probe")).scalar()) == 4
        finally:
            await db.close()
            other.dispose()

    asyncio.run(main())
