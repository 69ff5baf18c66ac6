"""CPU per call of the reads on every run's path, in this process (no server).

Each read is repeated `--count` times in one open transaction, five rounds, and timed with
`time.process_time` (CPU, not wall time: a PostgreSQL round trip's wait is not counted); the
table gives the fastest round and the median one, in microseconds per call:

- `claim's SELECT`: `store.slots.claimable` with one due execution (what a claim reads);
- `claim of one`: the same for one named execution (the Celery worker's claim);
- `chain rules`: `ChainFiring._enabled` with no rule (what every run's end reads; on SQLite
  this process's own generation of the rules answers without a read);
- `task by label`: `store.tasks.find` (every start resolves its selectors);
- `execution + attempts`: `store.executions.get` (every wait's read).

    .venv/bin/python bench/store_reads.py [--count 3000] [--database-url postgresql://...]

For an A/B comparison, run it with `PYTHONPATH` pointing at each tree's `src`.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

import taskgate.engine.actions  # noqa: F401  (registers the action kinds a task needs)
from common import Table, create_database, drop_database, machine_line, parser
from taskgate.core.chains.firing import ChainFiring
from taskgate.core.clock import utcnow
from taskgate.domain.selectors import parse_selector
from taskgate.domain.tasks import Task
from taskgate.store import executions, slots, tasks
from taskgate.store.db import Database

ROUNDS = 5


def main() -> None:
    p = parser(__doc__.splitlines()[0] if __doc__ else "")
    p.add_argument("--count", type=int, default=3000, help="Calls per round (3000).")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'db.sqlite'}"
        if args.database_url:
            url = create_database(args.database_url)
        try:
            table = measure(url, args.count)
        finally:
            if args.database_url:
                drop_database(args.database_url, url.rsplit("/", 1)[1])
    table.print()
    print(machine_line())


def measure(url: str, count: int) -> Table:
    db = Database(url)
    asyncio.run(db.migrate())
    try:
        now = utcnow()
        task = Task.model_validate(
            {
                "id": str(uuid.uuid4()),
                "name": "a",
                "label": "a",
                "action": {"kind": "command", "argv": ["true"]},
                "created_at": now,
                "updated_at": now,
            }
        )
        ended = _execution(task, "finished_success")
        with db.engine.begin() as conn:
            tasks.save(conn, task, insert=True)
            executions.insert(conn, [_execution(task, "queued"), ended])
            attempt = {"execution_id": ended["id"], "number": 1, "status": "finished_success"}
            executions.insert_attempts(
                conn, [attempt | {"node": "n", "started_at": now, "message": ""}]
            )
        firing = ChainFiring(None, lambda: None)  # type: ignore[arg-type]  # reads only
        label = parse_selector("label:a")
        reads: dict[str, Callable[[Connection], Any]] = {
            "claim's SELECT": lambda conn: slots.claimable(conn, now, 1),
            "claim of one": lambda conn: slots.claimable(conn, now, 1, only=ended["id"]),
            "chain rules": firing._enabled,
            "task by label": lambda conn: tasks.find(conn, label),
            "execution + attempts": lambda conn: executions.get(
                conn, ended["id"], with_attempts=True
            ),
        }
        table = Table(
            f"CPU per call, µs ({db.engine.dialect.name}, {count} calls x {ROUNDS} rounds)",
            ["read", "fastest round", "median round"],
        )
        with db.engine.connect() as conn, conn.begin():
            for name, read in reads.items():
                fastest, median = _per_call(read, conn, count)
                table.add(name, f"{fastest:.1f}", f"{median:.1f}")
        return table
    finally:
        asyncio.run(db.close())


def _execution(task: Task, status: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "task_id": task.key,
        "task_name": task.name,
        "task_spec": task.model_dump(mode="json"),
        "status": status,
        "origin": "api",
        "caller": "bench",
        "params": {"n": 1},
        "created_at": utcnow(),
    }


def _per_call(
    read: Callable[[Connection], Any], conn: Connection, count: int
) -> tuple[float, float]:
    read(conn)  # compiled, prepared and cached before the clock starts
    rounds = []
    for _ in range(ROUNDS):
        began = time.process_time()
        for _ in range(count):
            read(conn)
        rounds.append((time.process_time() - began) / count * 1e6)
    return min(rounds), statistics.median(rounds)


if __name__ == "__main__":
    main()
