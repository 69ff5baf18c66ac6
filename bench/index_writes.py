"""What the executions table's indexes cost the write path: CPU time per execution (insert,
then two status changes, one transaction each, as a start, its claim and its end) on a SQLite
file that already holds `--rows` executions, with the indexes of migration 0013 and with those
of 0014_dash. CPU time of this process (SQLite runs in it), so a busy machine distorts it less
than the wall clock.

    .venv/bin/python bench/index_writes.py [--count 3000] [--rows 100000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from taskgate.store.tables import executions, metadata

BEFORE = {
    "ix_executions_created_at": "created_at",
    "ix_executions_task_created_at": "task_id, created_at",
    "ix_executions_task_status": "task_id, status",
}
AFTER = [
    "ix_executions_created_at_id",
    "ix_executions_task_id_created_at_id",
    "ix_executions_caller_created_at_id",
    "ix_executions_status_created_at_id",
    "ix_executions_task_id_status_created_at_id",
]


def row(i: int, status: str, at: datetime) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "task_id": f"task-{i % 20}",
        "task_name": "t",
        "task_spec": {},
        "status": status,
        "origin": "api",
        "caller": f"key:k{i % 5}",
        "params": {},
        "created_at": at,
        "attempt_count": 0,
        "message": "",
        "log_size": 0,
        "log_dropped": 0,
    }


def cpu_per_execution(path: Path, before: bool, count: int, rows: int) -> float:
    engine = sa.create_engine(f"sqlite:///{path}")
    metadata.create_all(engine)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        if before:
            for name in AFTER:
                conn.exec_driver_sql(f"DROP INDEX {name}")
            for name, columns in BEFORE.items():
                conn.exec_driver_sql(f"CREATE INDEX {name} ON executions ({columns})")
        for start in range(0, rows, 5000):
            batch = [
                row(i, "finished_success", now - timedelta(seconds=i))
                for i in range(start, min(start + 5000, rows))
            ]
            conn.execute(executions.insert(), batch)
    began = time.process_time()
    for i in range(count):
        new = row(i, "queued", datetime.now(UTC))
        with engine.begin() as conn:
            conn.execute(executions.insert(), new)
        for status in ("started", "finished_success"):
            with engine.begin() as conn:
                changed = executions.update().where(executions.c.id == new["id"])
                conn.execute(changed.values(status=status))
    spent = time.process_time() - began
    engine.dispose()
    return spent / count * 1e6


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=3000)
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args()
    for _ in range(args.rounds):
        for before in (True, False):
            with tempfile.TemporaryDirectory() as folder:
                us = cpu_per_execution(Path(folder) / "t.db", before, args.count, args.rows)
            label = "0013 indexes" if before else "0014_dash indexes"
            print(f"{label}: {us:,.0f} us CPU per execution (insert + 2 status changes)")


if __name__ == "__main__":
    main()
