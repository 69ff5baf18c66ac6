"""A batch of execution rows that share JSON values (a start batch gives every row of one task
the same snapshot) stores each row's own values: the shared ones encoded once, the others not
mixed up with them."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from taskgate.core.clock import utcnow
from taskgate.store import executions as rows
from taskgate.store.db import Database
from tests.conftest import Backend


def test_rows_sharing_a_snapshot_keep_their_own_json(backend: Backend, tmp_path: Path) -> None:
    db = Database(backend.new_database(tmp_path) or f"sqlite:///{tmp_path / 'db.sqlite'}")
    first = {"name": "first", "action": {"argv": ["/bin/true"]}}
    second = {"name": "second", "checks": None}
    now = utcnow()

    def row(spec: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": str(uuid.uuid4()),
            "task_id": str(uuid.uuid4()),
            "task_name": spec["name"],
            "task_spec": spec,
            "status": "skipped",
            "origin": "api",
            "caller": "test",
            "params": params,
            "created_at": now,
        }

    batch = [row(first, {"n": 1}), row(second, {"n": 2}), row(first, {}), row(second, {"n": 2})]

    async def main() -> list[tuple[Any, Any]]:
        await db.migrate()
        await db.write(lambda conn: rows.insert(conn, batch))
        return await db.read(
            lambda conn: [
                (rows.task_spec_of(conn, r["id"]), rows.get_row(conn, r["id"]).params)  # type: ignore[union-attr]
                for r in batch
            ]
        )

    try:
        stored = asyncio.run(main())
    finally:
        asyncio.run(db.close())
    assert stored == [(r["task_spec"], r["params"]) for r in batch]
