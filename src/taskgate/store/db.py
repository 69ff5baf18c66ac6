"""Engines and transactions for SQLite (WAL) and PostgreSQL, and schema migration.

Repositories are plain synchronous SQLAlchemy Core; `Database` runs a unit of work as one
transaction and hands back its result. SQLite work runs inline on the event loop: a statement
takes microseconds, far less than handing it to a thread and back. PostgreSQL work, which
waits on the network, runs in a small thread pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine import make_url

from taskgate.domain.errors import ConfigError
from taskgate.extras import extra_needed
from taskgate.store.tables import PARTIAL_INDEXES, metadata
from taskgate.store.walcheckpoint import WalCheckpointer

MIGRATIONS = Path(__file__).parent / "migrations"
# The newest revision in migrations/versions; tests/test_migrations.py keeps the two in step.
HEAD_REVISION = "0015_dash2"
T = TypeVar("T")
Work = Callable[[Connection], T]
# What to undo outside the database if the unit of work running here does not commit.
_undo: ContextVar[list[Callable[[], None]] | None] = ContextVar("taskgate_undo", default=None)


def if_rolled_back(undo: Callable[[], None]) -> None:
    """Call `undo` if the unit of work now running (`Database.write`) does not commit: state
    kept outside the database for what it wrote (the executor's slots for the runs it
    claimed) is given back. It runs on the unit's own thread."""
    pending = _undo.get()
    if pending is None:
        raise RuntimeError("if_rolled_back outside a Database unit of work")
    pending.append(undo)


def _committed(conn: Connection, work: Work[T]) -> T:
    token = _undo.set([])
    try:
        with conn.begin():
            return work(conn)
    except BaseException:
        for undo in _undo.get() or ():
            undo()
        raise
    finally:
        _undo.reset(token)


def sync_url(url: str) -> str:
    """The driver we use for a plain `sqlite:///` or `postgresql://` URL."""
    parsed = make_url(url)
    driver = {
        "sqlite": "sqlite+pysqlite",
        "postgresql": "postgresql+psycopg",
        "postgres": "postgresql+psycopg",
    }.get(parsed.drivername, parsed.drivername)
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


def _create_private(path: Path) -> None:
    """A new SQLite file for the server's user alone: it holds parameters, logs and secrets.
    SQLite gives its -wal and -shm files the mode of the database file."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # The driver's own transaction handling would defer BEGIN; we issue it ourselves.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        # Take the write lock up front, so a transaction never fails half-way on upgrade
        # when another process (the CLI, a second server) writes too. Said to the driver
        # itself: every transaction begins so, and SQLAlchemy's statement path costs more
        # than the BEGIN does.
        conn.connection.driver_connection.execute("BEGIN IMMEDIATE")  # type: ignore[union-attr]


# A pooled PostgreSQL connection unused for this long is pinged before it is used again.
PING_AFTER_IDLE_SECONDS = 1.0
_IDLE_SINCE = "taskgate_idle_since"


def _ping_when_idle(engine: Engine) -> None:
    """SQLAlchemy's `pool_pre_ping`, but only for a connection that sat idle: one that may
    have outlived a restart of the server or a dropped link is tested and replaced. Pinging
    every checkout costs a round trip per transaction (a run makes four or five); a
    connection in steady use meets a restart with a failed statement, after which SQLAlchemy
    replaces the whole pool, as it would for a restart during a transaction."""

    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
            return  # new, or in use a moment ago
        dialect = engine.dialect
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:
            if dialect.is_disconnect(exc, dbapi_connection, None):
                raise sa.exc.InvalidatePoolError() from exc  # the pool connects anew
            raise


class Database:
    def __init__(self, url: str, *, threads: int = 8) -> None:
        self.url = sync_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        self._threads: ThreadPoolExecutor | None = None
        self._checkpointer: WalCheckpointer | None = None
        self._kept: Connection | None = None
        if self.is_sqlite:
            if self.file is not None:
                _create_private(self.file)
            # One connection: all work runs on the event loop thread, one unit at a time.
            self.engine = sa.create_engine(self.url, poolclass=sa.pool.StaticPool)
            _sqlite_pragmas(self.engine)
        else:
            with extra_needed("psycopg", "postgres", field="database_url", what="PostgreSQL"):
                # Last in, first out: the connections in use stay warm and need no ping, the
                # rest of the pool idles (and is pinged when a burst calls it up).
                self.engine = sa.create_engine(
                    self.url, pool_size=threads, max_overflow=0, pool_use_lifo=True
                )
            _ping_when_idle(self.engine)
            self._threads = ThreadPoolExecutor(threads, thread_name_prefix="taskgate-db")
        # A read of several statements sees one snapshot: an execution and its attempts read
        # one after the other agree even while a run is claimed. (SQLite: one connection,
        # one unit of work at a time, so every read is consistent already.)
        self._reader = (
            self.engine
            if self.is_sqlite
            else self.engine.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
        )

    @property
    def file(self) -> Path | None:
        """The SQLite database file; None on PostgreSQL (or in memory)."""
        path = make_url(self.url).database if self.is_sqlite else None
        return Path(path) if path and path != ":memory:" else None

    @staticmethod
    def _transaction(engine: Engine, work: Work[T]) -> T:
        with engine.connect() as conn:
            return _committed(conn, work)

    def _kept_transaction(self, work: Work[T]) -> T:
        """SQLite: every unit of work runs on the loop's thread, one at a time, on the one
        connection; so one `Connection` is kept for all of them instead of checking it out of
        the pool and back (events, reset on return) for each transaction."""
        conn = self._kept
        if conn is None or conn.closed or conn.invalidated:
            conn = self._kept = self.engine.connect()
        elif conn.in_transaction():  # a failed COMMIT left one open: as the pool's reset did
            conn.rollback()
        return _committed(conn, work)

    async def _run(self, engine: Engine, work: Work[T]) -> T:
        if self._threads is None:
            return self._kept_transaction(work)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._threads, self._transaction, engine, work)

    async def write(self, work: Work[T]) -> T:
        """Run `work` in one transaction: all of it is committed, or none of it."""
        return await self._run(self.engine, work)

    def write_here(self, work: Work[T]) -> T:
        """`write` on the calling thread, for a thread that waits for the result anyway and is
        not the event loop's (PostgreSQL: the pool's connections are shared by threads)."""
        if self._threads is None:
            raise RuntimeError("write_here needs PostgreSQL: SQLite's work runs on the loop")
        return self._transaction(self.engine, work)

    async def read(self, work: Work[T]) -> T:
        """Run `work`, which only reads, in one transaction that sees one snapshot."""
        return await self._run(self._reader, work)

    async def migrate(self) -> None:
        await self.write(_upgrade_to_head)

    @contextlib.asynccontextmanager
    async def starting_alone(self) -> AsyncIterator[None]:
        """Servers starting together on one PostgreSQL database take turns for the start-up
        (migration, the config's tasks and schedules): each finds the schema and the rows the
        one before it wrote, so none trips over another's half-done work."""
        if self._threads is None:
            yield
            return
        loop = asyncio.get_running_loop()
        conn = await loop.run_in_executor(self._threads, self._lock_start_up)
        try:
            yield
        finally:
            await loop.run_in_executor(self._threads, _unlock_start_up, conn)

    def _lock_start_up(self) -> Connection:
        conn = self.engine.connect()
        try:
            conn.execute(_START_UP_LOCK)
            conn.commit()
        except BaseException:
            conn.close()
            raise
        return conn

    @contextlib.contextmanager
    def owned(self) -> Iterator[None]:
        """An SQLite file is served by one server at a time: the executions it finds running
        at its start are then known to be orphans. A second server is refused, naming the
        file (several servers need PostgreSQL)."""
        path = make_url(self.url).database if self.is_sqlite else None
        if not path or path == ":memory:":
            yield
            return
        lock_path = f"{path}.server-lock"
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                _lock_now(fd)
            except BlockingIOError:
                raise ConfigError(
                    f"another taskgate server is using {path}: one server per SQLite database "
                    "(several servers share a PostgreSQL database)",
                    field="database_url",
                ) from None
            yield
        finally:
            os.close(fd)

    def checkpoint_in_background(self) -> None:
        """For a server on an SQLite file: its log is copied back by a thread of its own,
        not inside the commits of the event loop (store/walcheckpoint.py)."""
        path = self.file
        if path is None or self._checkpointer is not None:
            return
        raw = self.engine.raw_connection()
        try:
            raw.driver_connection.execute("PRAGMA wal_autocheckpoint=0")  # type: ignore[union-attr]
        finally:
            raw.close()  # back to the pool: StaticPool keeps this one connection and its setting
        self._checkpointer = WalCheckpointer(path)
        self._checkpointer.start()

    async def ping(self) -> None:
        await self.read(lambda conn: conn.execute(sa.text("SELECT 1")))

    async def close(self) -> None:
        if self._checkpointer is not None:
            await asyncio.to_thread(self._checkpointer.stop)
            self._checkpointer = None
        if self._threads is not None:
            self._threads.shutdown(wait=True)
        if self._kept is not None:
            self._kept.close()
            self._kept = None
        self.engine.dispose()


# One number for "a taskgate server is starting up" among the advisory locks of a database.
_START_UP_LOCK = sa.text("SELECT pg_advisory_lock(hashtextextended('taskgate.start-up', 0))")
_START_UP_UNLOCK = sa.text("SELECT pg_advisory_unlock(hashtextextended('taskgate.start-up', 0))")


def _unlock_start_up(conn: Connection) -> None:
    try:
        conn.execute(_START_UP_UNLOCK)
        conn.commit()
    finally:
        conn.close()


def _current_revision(connection: Connection) -> str | None:
    if not sa.inspect(connection).has_table("alembic_version"):
        return None
    revision: str | None = connection.execute(
        sa.text("SELECT version_num FROM alembic_version")
    ).scalar()
    return revision


def _upgrade_to_head(connection: Connection) -> None:
    # Alembic costs ~11 MB of memory once imported: only load it when there is work for it.
    current = _current_revision(connection)
    if current == HEAD_REVISION:
        return
    if current is None and not sa.inspect(connection).get_table_names():
        _create_at_head(connection)
        return
    alembic_upgrade(connection)


def _create_at_head(connection: Connection) -> None:
    """An empty database gets the declared schema and is stamped at the newest revision,
    which is what running every migration would give (tests/store/test_migrations.py)."""
    metadata.create_all(connection)
    if connection.dialect.name == "postgresql":
        for name, (table, column, where) in PARTIAL_INDEXES.items():
            connection.execute(sa.text(f"DROP INDEX {name}"))
            connection.execute(sa.text(f"CREATE INDEX {name} ON {table} ({column}) WHERE {where}"))
    version = sa.Table(
        "alembic_version",
        sa.MetaData(),
        sa.Column("version_num", sa.String(32), primary_key=True),
    )
    version.create(connection)
    connection.execute(version.insert().values(version_num=HEAD_REVISION))


def alembic_upgrade(connection: Connection) -> None:
    from alembic import command
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _lock_now(fd: int) -> None:
    """An exclusive lock on the open file, or BlockingIOError at once if another process has
    it; the lock goes with the process, however it ends."""
    if sys.platform == "win32":
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError as exc:
            raise BlockingIOError(str(exc)) from None
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
