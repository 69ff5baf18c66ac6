"""A write transaction whose writes are queued (PostgreSQL's pipeline mode, store/pipelining.py)
is still one transaction: a queued write's error comes out as SQLAlchemy's exception, at the
next statement read or at the commit, and nothing of the transaction is kept; a queued write
is seen by the statements after it; the connection goes back to the pool as it came."""

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from taskgate.store.db import Database, if_rolled_back
from taskgate.store.prepared import Prepared
from tests.conftest import Backend

probe = sa.Table("probe", sa.MetaData(), sa.Column("n", sa.Text, unique=True))
_INSERT = Prepared(probe.insert())
_RENAME = Prepared(probe.update().where(probe.c.n == sa.bindparam("old")))


def _names(conn: Connection) -> list[str]:
    return sorted(conn.execute(sa.select(probe.c.n)).scalars())


def _on(backend: Backend, tmp_path: Path, scenario: Callable[[Database], Any]) -> None:
    url = backend.new_database(tmp_path) or f"sqlite:///{tmp_path / 'db.sqlite'}"

    async def main() -> None:
        db = Database(url, threads=1)  # one connection: the one a failure left is used again
        try:
            await db.write(lambda conn: probe.create(conn))
            await scenario(db)
        finally:
            await db.close()

    asyncio.run(main())


def test_a_queued_writes_error_comes_out_at_the_next_read_and_nothing_is_kept(
    backend: Backend, tmp_path: Path
) -> None:
    undone: list[str] = []
    seen: list[list[str]] = []

    def work(conn: Connection) -> None:
        if_rolled_back(lambda: undone.append("undone"))
        _INSERT.send(conn, {"n": "a"})
        _INSERT.execute_many(conn, [{"n": "b"}, {"n": "b"}])  # breaks the unique constraint
        _INSERT.send(conn, {"n": "c"})
        seen.append(_names(conn))  # the error comes out here, not the rows

    async def scenario(db: Database) -> None:
        with pytest.raises(IntegrityError):
            await db.write(work)
        assert seen == []
        assert undone == ["undone"]
        assert await db.read(_names) == []
        await db.write(lambda conn: _INSERT.send(conn, {"n": "after"}))
        assert await db.read(_names) == ["after"]

    _on(backend, tmp_path, scenario)


def test_a_queued_writes_error_comes_out_at_the_commit(backend: Backend, tmp_path: Path) -> None:
    undone: list[str] = []

    def work(conn: Connection) -> None:
        if_rolled_back(lambda: undone.append("undone"))
        conn.execute(probe.insert().values(n="first"))  # through SQLAlchemy, with BEGIN
        _INSERT.send(conn, {"n": "x"})
        _INSERT.send(conn, {"n": "x"})  # nothing read after it: the commit carries it

    async def scenario(db: Database) -> None:
        with pytest.raises(IntegrityError):
            await db.write(work)
        assert undone == ["undone"]
        assert await db.read(_names) == []
        await db.write(lambda conn: conn.execute(probe.insert().values(n="after")))
        assert await db.read(_names) == ["after"]

    _on(backend, tmp_path, scenario)


def test_queued_writes_are_one_transaction_with_what_follows(
    backend: Backend, tmp_path: Path
) -> None:
    """Writes queued before an error raised in Python are not kept: BEGIN went first."""

    class Refused(Exception):
        pass

    def work(conn: Connection) -> None:
        _INSERT.send(conn, {"n": "queued"})
        _INSERT.execute_many(conn, [{"n": "many-1"}, {"n": "many-2"}])
        raise Refused

    def work_after_a_read(conn: Connection) -> None:
        assert _names(conn) == []
        _INSERT.send(conn, {"n": "queued"})
        assert _names(conn) == ["queued"]  # a queued write is seen by what follows it
        raise Refused

    async def scenario(db: Database) -> None:
        for unit in (work, work_after_a_read):
            with pytest.raises(Refused):
                await db.write(unit)
            assert await db.read(_names) == []

    _on(backend, tmp_path, scenario)


def test_a_row_count_is_read_after_the_writes_queued_before_it(
    backend: Backend, tmp_path: Path
) -> None:
    def work(conn: Connection) -> tuple[int, int]:
        _INSERT.execute_many(conn, [{"n": "a"}, {"n": "b"}])
        _INSERT.send(conn, {"n": "c"})
        renamed = _RENAME.execute(conn, {"old": "c", "n": "d"})
        missed = _RENAME.execute(conn, {"old": "c", "n": "e"})
        return renamed, missed

    async def scenario(db: Database) -> None:
        assert await db.write(work) == (1, 0)
        assert await db.read(_names) == ["a", "b", "d"]
        # A transaction of queued writes alone is committed whole.
        await db.write(lambda conn: _INSERT.execute_many(conn, [{"n": "e"}, {"n": "f"}]))
        assert await db.read(_names) == ["a", "b", "d", "e", "f"]

    _on(backend, tmp_path, scenario)


def test_the_connection_goes_back_out_of_autocommit(tmp_path: Path, backend: Backend) -> None:
    """After a pipelined write, committed or failed, the pool's connection is as it was: a
    statement outside `Database.write` runs in a transaction psycopg begins."""
    if backend.name != "postgres":
        pytest.skip("pipelining is PostgreSQL's")

    def autocommit(conn: Connection) -> bool:
        return bool(conn.connection.driver_connection.autocommit)  # type: ignore[union-attr]

    async def scenario(db: Database) -> None:
        assert await db.write(autocommit) is True  # while pipelined: BEGIN is ours
        await db.write(lambda conn: _INSERT.send(conn, {"n": "a"}))
        with db.engine.connect() as conn:  # the pool's one connection
            assert autocommit(conn) is False
        with pytest.raises(IntegrityError):
            await db.write(lambda conn: _INSERT.send(conn, {"n": "a"}))
        with db.engine.connect() as conn:
            assert autocommit(conn) is False

    _on(backend, tmp_path, scenario)
