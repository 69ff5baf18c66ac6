"""The Celery nodes' question, every second, "which waiting executions have no message yet?",
is answered from the partial index ix_executions_unpublished on PostgreSQL (also when it is
the subquery of the UPDATE that takes them): EXPLAIN says so,
on a table where ended executions and a backlog of published ones outnumber what is asked
for (and the sweep's question reads an index too)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from taskgate.core.clock import utcnow
from taskgate.store import publishing
from taskgate.store.db import Database
from taskgate.store.tables import executions
from tests.conftest import Backend

pytestmark = pytest.mark.parametrize("backend", ["postgres"], indirect=True)

INDEX = "ix_executions_unpublished"


def _row(status: str, published_at: datetime | None, at: datetime) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "task_id": str(uuid.uuid4()),
        "task_name": "t",
        "task_spec": {},
        "status": status,
        "origin": "api",
        "caller": "test",
        "params": {},
        "created_at": at,
        "published_at": published_at,
    }


def _plan(db: Database, query: sa.Executable, now: datetime) -> str:
    """PostgreSQL's plan for `query` exactly as the driver sends it (statement and
    parameters taken from a run of it, in a transaction that is rolled back)."""
    sent: list[tuple[str, Any]] = []

    def keep(_c: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    with db.engine.connect() as conn:
        sa.event.listen(conn, "before_cursor_execute", keep)
        conn.execute(query, {"now": now}).all()
        sa.event.remove(conn, "before_cursor_execute", keep)
        conn.rollback()
        statement, parameters = sent[-1]
        lines = conn.exec_driver_sql(f"EXPLAIN {statement}", parameters).scalars()
        return "\n".join(str(line) for line in lines)


def test_the_unpublished_and_the_sweep_queries_use_the_index(
    backend: Backend, tmp_path: Path
) -> None:
    url = backend.new_database(tmp_path)
    assert url is not None
    db = Database(url)
    try:
        asyncio.run(db.migrate())
        now = utcnow()
        old = now - timedelta(hours=1)
        recent = now - timedelta(seconds=1)
        rows = [_row("finished_success", None, old) for _ in range(6000)]
        rows += [_row("queued", recent, old) for _ in range(3000)]  # a worker will take them
        rows += [_row("queued", old, old) for _ in range(20)]  # lost with a broker?
        rows += [_row("queued", None, now) for _ in range(20)]  # not published yet
        with db.engine.begin() as conn:
            conn.execute(executions.insert(), rows)
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE executions")

        unpublished = _plan(db, publishing.due_query(200), now)
        taking = _plan(db, publishing.take_query(200), now)
        sweep = publishing.due_query(2000, sent_before=now - timedelta(seconds=30))
        swept = _plan(db, sweep, now)
        print(f"unpublished:\n{unpublished}\ntaking:\n{taking}\nsweep:\n{swept}")
        assert f"Index Scan using {INDEX}" in unpublished, unpublished
        assert f"Index Scan using {INDEX}" in taking and "Seq Scan" not in taking, taking
        assert "Seq Scan" not in swept, swept

        with db.engine.begin() as conn:
            taken = publishing.take_due(conn, now, 200)
            again = publishing.take_due(conn, now, 200)
        assert len(taken) == 20 and all(item.route is None for item in taken)
        assert again == []  # marked published by the same statement
    finally:
        asyncio.run(db.close())
