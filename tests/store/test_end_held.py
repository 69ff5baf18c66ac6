"""A run's end writes its execution and its attempt only while its server holds the run (one
statement on PostgreSQL, two on SQLite): both rows, or neither."""

import asyncio
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from taskgate.core.clock import utcnow
from taskgate.store import holding
from taskgate.store.db import Database
from taskgate.store.tables import attempts, executions
from tests.conftest import Backend


def _running(conn: Connection) -> None:
    now = utcnow()
    conn.execute(
        executions.insert().values(
            id="e1",
            task_id="t1",
            task_name="t",
            task_spec={},
            status="started",
            origin="api",
            caller="test",
            params={},
            created_at=now,
            started_at=now,
            attempt_count=2,
            instance="here",
            lease_until=now,
        )
    )
    for number in (1, 2):
        conn.execute(
            attempts.insert().values(
                execution_id="e1", number=number, status="started", node="n", started_at=now
            )
        )


def _state(conn: Connection) -> tuple[Any, ...]:
    execution = conn.execute(
        sa.select(executions.c.status, executions.c.message, executions.c.instance)
    ).one()
    tries = conn.execute(
        sa.select(attempts.c.status, attempts.c.pid, attempts.c.message).order_by(attempts.c.number)
    ).all()
    return tuple(execution), [tuple(t) for t in tries]


def _end(held_by: str, attempt: int) -> Any:
    def work(conn: Connection) -> bool:
        return holding.end_held(
            conn,
            "e1",
            held_by,
            attempt,
            {"status": "finished success", "message": "done", "instance": None},
            {"status": "finished success", "message": "ok", "pid": 42},
        )

    return work


def test_an_end_writes_both_rows_only_while_held(backend: Backend, tmp_path: Path) -> None:
    url = backend.new_database(tmp_path) or f"sqlite:///{tmp_path / 'db.sqlite'}"

    async def main() -> None:
        db = Database(url)
        try:
            await db.migrate()
            await db.write(_running)
            before = await db.read(_state)
            assert await db.write(_end("elsewhere", 2)) is False
            assert await db.write(_end("here", 1)) is False  # an attempt that is not its own
            assert await db.read(_state) == before
            assert await db.write(_end("here", 2)) is True
            assert await db.read(_state) == (
                ("finished success", "done", None),
                [("started", None, ""), ("finished success", 42, "ok")],
            )
            assert await db.write(_end("here", 2)) is False  # no longer held: ended
        finally:
            await db.close()

    asyncio.run(main())
