"""Rows inserted together (a start batch's executions and audit records) are all stored, however
many there are, and a row that breaks a constraint fails the whole insert as SQLAlchemy's
IntegrityError (the start service relies on it to commit a batch's starts one by one)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from taskgate.core.clock import utcnow
from taskgate.store import audit
from taskgate.store import executions as rows
from taskgate.store.db import Database
from tests.conftest import Backend


def _row(now: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "task_id": "t",
        "task_name": "many",
        "task_spec": {"name": "many"},
        "status": "skipped",
        "origin": "api",
        "caller": "test",
        "params": {},
        "created_at": now,
    }


def _database(backend: Backend, tmp_path: Path) -> Database:
    return Database(backend.new_database(tmp_path) or f"sqlite:///{tmp_path / 'db.sqlite'}")


def test_a_batch_larger_than_one_statement_holds_is_stored_whole(
    backend: Backend, tmp_path: Path
) -> None:
    db = _database(backend, tmp_path)
    now = utcnow()
    # Past PostgreSQL's 65,535 bound values in one statement: 28 columns x 2,500 rows.
    batch = [_row(now) for _ in range(2500)]
    records = [
        audit.entry(at=now, actor="test", action="start", target="t", details={"n": i})
        for i in range(2500)
    ]

    async def main() -> tuple[int, list[dict[str, Any]]]:
        await db.migrate()

        def write(conn: Any) -> None:
            rows.insert(conn, batch)
            audit.record_many(conn, records)

        await db.write(write)
        stored = await db.read(lambda conn: len(rows.get_many(conn, [r["id"] for r in batch])))
        logged = await db.read(lambda conn: audit.recent(conn, 3000))
        return stored, logged

    try:
        stored, logged = asyncio.run(main())
    finally:
        asyncio.run(db.close())
    assert stored == 2500
    assert sorted(r["details"]["n"] for r in logged) == list(range(2500))


def test_a_duplicate_row_fails_the_whole_insert(backend: Backend, tmp_path: Path) -> None:
    db = _database(backend, tmp_path)
    now = utcnow()
    first = _row(now)
    batch = [_row(now), {**_row(now), "id": first["id"]}, _row(now)]

    async def main() -> int:
        await db.migrate()
        await db.write(lambda conn: rows.insert(conn, [first]))
        with pytest.raises(IntegrityError):
            await db.write(lambda conn: rows.insert(conn, batch))
        return await db.read(lambda conn: len(rows.get_many(conn, [r["id"] for r in batch])))

    try:
        stored = asyncio.run(main())
    finally:
        asyncio.run(db.close())
    assert stored == 1
