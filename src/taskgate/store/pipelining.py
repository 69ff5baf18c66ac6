"""PostgreSQL write transactions whose writes ride with the next statement that is waited for.

Outside pipeline mode psycopg waits for each statement's answer before it sends the next one,
and sends `BEGIN` as a round trip of its own before a transaction's first statement. In a
write transaction of `Database` on PostgreSQL, psycopg's pipeline mode is used instead:

- `BEGIN` is queued, and sent with the transaction's first statement (none: no `BEGIN`);
- a prepared write whose answer nobody reads at once (`Prepared.send`, `execute_many`) is
  queued, and sent with the next statement whose answer is read (any statement through
  SQLAlchemy, a `Prepared.execute` that returns its row count) or with `COMMIT`;
- what is queued goes in one write followed by a Sync, and the answers are read together: one
  round trip for all of it.

So a write's error (a broken constraint) comes out at the statement that carried it, or at the
commit, as SQLAlchemy's exception (`IntegrityError` ...), and the transaction is rolled back as
after any error; a caller that must catch a write's error at the write itself uses
`Prepared.execute`. (Those that catch `IntegrityError` catch it around the whole transaction.)

psycopg itself would send a Sync after a `BEGIN` it sends in pipeline mode; the connection is
put in autocommit for the transaction, so psycopg sends no `BEGIN` of its own, and ours is
queued. A statement that does not run in pipeline mode (a server-side cursor, SQLAlchemy's
executemany) is sent after the queue is flushed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, event
from sqlalchemy.exc import DBAPIError

T = TypeVar("T")


class Queue:
    """The pipeline of the write transaction running on `conn` (one thread's)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.driver: Any = conn.connection.driver_connection
        self.begun = False  # BEGIN queued (or sent): it waits for a first statement
        self._pipeline: contextlib.ExitStack | None = None

    @property
    def waiting(self) -> bool:
        """Whether the next statement must go through the pipeline: BEGIN, or writes, are
        queued and not sent yet (or nothing was sent yet, and BEGIN is due)."""
        return self._pipeline is not None or not self.begun

    def open(self) -> Any:
        """The driver connection, in pipeline mode, BEGIN queued: what is executed on it now
        is queued."""
        if self._pipeline is None:
            stack = contextlib.ExitStack()
            stack.enter_context(self.driver.pipeline())
            self._pipeline = stack
        if not self.begun:
            self.driver.execute("BEGIN", prepare=False)
            self.begun = True
        return self.driver

    def flush(self) -> None:
        """Send what is queued with a Sync and read every answer; the first error is raised
        (psycopg's), after the answers of the rest are read."""
        stack, self._pipeline = self._pipeline, None
        if stack is not None:
            stack.close()

    def discard(self) -> None:
        """`flush` for a transaction that is being rolled back anyway: its errors are not
        news (the error that ended the transaction is already on its way)."""
        with contextlib.suppress(self.conn.dialect.loaded_dbapi.Error):
            self.flush()


_running: ContextVar[Queue | None] = ContextVar("taskgate_pipeline", default=None)


def queue_of(conn: Connection) -> Queue | None:
    """The pipeline of the write transaction on `conn`; None outside one (SQLite, reads)."""
    queue = _running.get()
    return queue if queue is not None and queue.conn is conn else None


def run(conn: Connection, committed: Callable[[], T]) -> T:
    """`committed()` (which begins, runs and commits a transaction on `conn`) with its
    statements pipelined."""
    queue = Queue(conn)
    queue.driver.autocommit = True  # psycopg's BEGIN would wait for its answer: ours is queued
    token = _running.set(queue)
    try:
        return committed()
    finally:
        _running.reset(token)
        queue.discard()  # a transaction that failed before its commit was sent
        _out_of_autocommit(conn, queue.driver)


def _out_of_autocommit(conn: Connection, driver: Any) -> None:
    """The connection goes back to the pool as it came: not in autocommit. A connection that
    cannot (it broke, or is still in a transaction the rollback could not end) is dropped."""
    try:
        driver.autocommit = False
    except conn.dialect.loaded_dbapi.Error:
        conn.invalidate()


def install(engine: Engine) -> None:
    """Hook the pipelining into `engine`'s transactions and statements (PostgreSQL)."""
    dialect = engine.dialect

    @event.listens_for(engine, "commit")
    def _commit(conn: Connection) -> None:
        queue = queue_of(conn)
        if queue is None or not queue.begun:
            return  # nothing was written: psycopg's commit has nothing to do either
        try:
            # Nothing queued (a statement read last): COMMIT goes alone, as psycopg's would.
            queue.open().execute("COMMIT", prepare=False)
            queue.flush()
        except dialect.loaded_dbapi.Error as exc:
            # Raised before SQLAlchemy's own commit, which would wrap it: wrapped here.
            raise DBAPIError.instance("COMMIT", None, exc, dialect.loaded_dbapi.Error) from exc

    @event.listens_for(engine, "rollback")
    def _rollback(conn: Connection) -> None:
        queue = queue_of(conn)
        if queue is not None:
            queue.discard()

    @event.listens_for(engine, "do_execute")
    def _execute(cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
        queue = queue_of(context.root_connection)
        if queue is None or not queue.waiting:
            return False
        queue.open()
        if not _pipelinable(cursor):
            queue.flush()
            return False
        # Sent with what is queued; its answer is read (SQLAlchemy reads it next).
        cursor.execute(statement, parameters)
        queue.flush()
        return True

    @event.listens_for(engine, "do_executemany")
    def _execute_many(cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
        return _flushed_first(context)

    @event.listens_for(engine, "do_execute_no_params")
    def _execute_no_params(cursor: Any, statement: str, context: Any) -> bool:
        return _flushed_first(context)


def _flushed_first(context: Any) -> bool:
    """A statement sent as SQLAlchemy sends it, after BEGIN and what is queued."""
    queue = queue_of(context.root_connection)
    if queue is not None and queue.waiting:
        queue.open()
        queue.flush()
    return False


def _pipelinable(cursor: Any) -> bool:
    from psycopg import ServerCursor

    return not isinstance(cursor, ServerCursor)
