"""What a unit of work keeps outside the database is given back when it does not commit, and
kept when it does; a PostgreSQL connection that sat idle is tested before it is used again."""

import asyncio
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from taskgate.store import db as dbmodule
from taskgate.store.db import Database, if_rolled_back
from tests.conftest import Backend


def test_undo_runs_only_when_the_unit_does_not_commit(backend: Backend, tmp_path: Path) -> None:
    url = backend.new_database(tmp_path) or f"sqlite:///{tmp_path / 'db.sqlite'}"
    undone: list[str] = []

    def write(conn: Connection, *names: str) -> None:
        for name in names:
            conn.execute(sa.text("INSERT INTO probe VALUES (:n)"), {"n": name})
            if_rolled_back(lambda name=name: undone.append(name))  # type: ignore[misc]

    def names(conn: Connection) -> list[str]:
        return list(conn.execute(sa.text("SELECT n FROM probe")).scalars())

    async def main() -> None:
        db = Database(url)
        try:
            await db.write(lambda c: c.execute(sa.text("CREATE TABLE probe (n text UNIQUE)")))
            await db.write(lambda c: write(c, "kept"))
            with pytest.raises(IntegrityError):
                await db.write(lambda c: write(c, "twice", "twice"))
            await db.write(lambda c: write(c, "after"))
            assert sorted(await db.read(names)) == ["after", "kept"]
        finally:
            await db.close()

    asyncio.run(main())
    assert undone == ["twice"]  # the first of the two; the second never got to register


def test_undo_needs_a_unit_of_work() -> None:
    with pytest.raises(RuntimeError):
        if_rolled_back(lambda: None)


def test_an_idle_connection_whose_server_side_ended_is_replaced(
    backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = backend.new_database(tmp_path)
    if url is None:
        pytest.skip("SQLite has no server to lose")
    monkeypatch.setattr(dbmodule, "PING_AFTER_IDLE_SECONDS", 0.0)
    admin = sa.create_engine(dbmodule.sync_url(url), poolclass=sa.pool.NullPool)

    async def main() -> None:
        db = Database(url, threads=1)
        try:
            pid = await db.write(lambda c: c.execute(sa.text("SELECT pg_backend_pid()")).scalar())
            with admin.begin() as conn:  # as a restart of the server would
                conn.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid})
            again = await db.write(lambda c: c.execute(sa.text("SELECT pg_backend_pid()")).scalar())
            assert again != pid
        finally:
            await db.close()
            admin.dispose()

    asyncio.run(main())
