"""A SELECT run on the driver's cursor (`PreparedQuery`) reads what `Connection.execute` reads:
the same values, converted the same way (UTC datetimes, JSON, text), by name and by position;
a statement it cannot prepare goes through `execute`; and its errors are SQLAlchemy's."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from taskgate.core.clock import utcnow
from taskgate.store import executions as rows
from taskgate.store.db import Database
from taskgate.store.prepared import PreparedQuery
from taskgate.store.specs import spec_text
from taskgate.store.tables import executions
from tests.conftest import Backend


@pytest.fixture
def db(backend: Backend, tmp_path: Path) -> Iterator[Database]:
    database = Database(backend.new_database(tmp_path) or f"sqlite:///{tmp_path / 'db.sqlite'}")
    asyncio.run(database.migrate())
    yield database
    asyncio.run(database.close())


def _row(name: str, **values: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "task_id": "t",
        "task_name": name,
        "task_spec": {"name": name, "tags": ["x"]},
        "status": "queued",
        "origin": "api",
        "caller": "test",
        "params": {"n": 1, "s": "é"},
        "created_at": utcnow(),
        "started_at": None,
        "attempt_count": 0,
        "triggered_by": None,
        **values,
    }


_COLUMNS = (
    executions.c.id,
    executions.c.task_name,
    spec_text(executions.c.task_spec, "task_spec"),
    executions.c.params,
    executions.c.created_at,
    executions.c.started_at,
    executions.c.attempt_count,
    executions.c.triggered_by,
)


def test_rows_are_those_execute_reads(db: Database) -> None:
    stored = [
        _row("first", started_at=utcnow() - timedelta(seconds=3), triggered_by=["e1"]),
        _row("second", attempt_count=2),
    ]
    query = (
        sa.select(*_COLUMNS)
        .where(executions.c.created_at <= sa.bindparam("now"))
        .order_by(executions.c.task_name)
        .limit(sa.bindparam("limit"))
    )
    prepared = PreparedQuery(query)
    params = {"now": utcnow(), "limit": 10}
    with db.engine.begin() as conn:
        rows.insert(conn, stored)
        expected = [tuple(r) for r in conn.execute(query, params)]
        # Twice: the first run compiles and learns the columns, the second reuses them.
        for _ in range(2):
            found = prepared.rows(conn, params)
            assert [tuple(r) for r in found] == expected
    assert [r.task_name for r in found] == ["first", "second"]
    first = found[0]
    assert first.params == {"n": 1, "s": "é"} and first.triggered_by == ["e1"]
    assert isinstance(first.task_spec, str)  # the stored text, for specs.task_of_snapshot
    assert first.created_at.utcoffset() == timedelta(0)
    assert first[0] == first.id == stored[0]["id"]


def test_a_list_expanded_at_run_time_goes_through_execute(db: Database) -> None:
    stored = [_row("a"), _row("b"), _row("c")]
    query = (
        sa.select(executions.c.task_name)
        .where(executions.c.id.not_in(sa.bindparam("skip", expanding=True)))
        .order_by(executions.c.task_name)
    )
    with db.engine.begin() as conn:
        rows.insert(conn, stored)
        found = PreparedQuery(query).rows(conn, {"skip": [stored[1]["id"]]})
    assert [r.task_name for r in found] == ["a", "c"]


def test_an_error_is_sqlalchemys(db: Database) -> None:
    missing = sa.table("no_such_table", sa.column("x", sa.Integer))
    with db.engine.connect() as conn, conn.begin(), pytest.raises(DBAPIError):
        PreparedQuery(sa.select(missing.c.x)).rows(conn, {})
