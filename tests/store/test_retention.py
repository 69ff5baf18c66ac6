"""Retention on the store, on both engines: what goes, what stays, in batches; the rows are
written directly with the times a long-running site would have."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from taskgate.core.retention import Retention
from taskgate.domain.retention import Keep, Kind, RetentionPolicy
from taskgate.store import tables as t
from taskgate.store.db import Database
from tests.conftest import Backend

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture
def db(backend: Backend, tmp_path: Path) -> Iterator[Database]:
    url = backend.new_database(tmp_path) or f"sqlite:///{tmp_path / 'db.sqlite'}"
    database = Database(url)
    asyncio.run(database.migrate())
    yield database
    asyncio.run(database.close())
    backend.release(url)


def add_task(db: Database) -> str:
    task_id = str(uuid.uuid4())
    with db.engine.begin() as conn:
        conn.execute(
            t.tasks.insert().values(
                id=task_id,
                name=task_id,
                enabled=True,
                source="api",
                spec={},
                created_at=NOW,
                updated_at=NOW,
            )
        )
    return task_id


def add_execution(
    db: Database,
    task_id: str,
    *,
    status: str = "finished_success",
    ended_days_ago: float | None = None,
    parent_id: str | None = None,
    parked: bool = False,
    created: datetime | None = None,
) -> str:
    execution_id = str(uuid.uuid4())
    ended = None if ended_days_ago is None else NOW - ended_days_ago * DAY
    created = created or (ended or NOW) - timedelta(seconds=1)
    with db.engine.begin() as conn:
        conn.execute(
            t.executions.insert().values(
                id=execution_id,
                task_id=task_id,
                task_name="t",
                task_spec={},
                status=status,
                origin="api",
                caller="test",
                params={},
                created_at=created,
                finished_at=ended,
                attempt_count=1,
                parent_id=parent_id,
                parked=parked,
                message="",
                log_size=5,
                log_dropped=0,
            )
        )
        conn.execute(
            t.attempts.insert().values(
                execution_id=execution_id,
                number=1,
                status=status,
                node="n",
                started_at=created,
                finished_at=ended,
                message="",
            )
        )
        conn.execute(
            t.execution_logs.insert().values(execution_id=execution_id, offset=0, data="hello")
        )
    return execution_id


def ids(db: Database, table: sa.Table, column: str = "id") -> set[Any]:
    with db.engine.connect() as conn:
        return set(conn.scalars(sa.select(table.c[column])))


def purge(
    db: Database, policy: RetentionPolicy, purged: list[str] | None = None
) -> dict[Kind, int]:
    def remember(execution_ids: list[str]) -> None:
        if purged is not None:
            purged.extend(execution_ids)

    retention = Retention(db, policy, remember)
    preview = asyncio.run(retention.preview(NOW))
    report = asyncio.run(retention.purge(NOW))
    assert preview.counts == report.counts  # the dry run counts what the purge deletes
    return report.counts


def test_executions_past_their_age_go_with_their_attempts_and_logs(db: Database) -> None:
    task = add_task(db)
    old = [add_execution(db, task, ended_days_ago=40) for _ in range(3)]
    young = add_execution(db, task, ended_days_ago=10)
    running = add_execution(db, task, status="started", created=NOW - 100 * DAY)
    queued = add_execution(db, task, status="queued", created=NOW - 100 * DAY)
    retrying = add_execution(db, task, status="retry", created=NOW - 100 * DAY)
    purged: list[str] = []
    policy = RetentionPolicy({Kind.EXECUTIONS: Keep(max_age_days=30)}, batch_size=2)

    counts = purge(db, policy, purged)

    assert counts[Kind.EXECUTIONS] == 3
    assert sorted(purged) == sorted(old)
    assert ids(db, t.executions) == {young, running, queued, retrying}
    assert ids(db, t.attempts, "execution_id") == {young, running, queued, retrying}
    assert ids(db, t.execution_logs, "execution_id") == {young, running, queued, retrying}


def test_count_limit_keeps_the_newest_ended_executions_of_each_task(db: Database) -> None:
    busy, quiet = add_task(db), add_task(db)
    busy_runs = [add_execution(db, busy, ended_days_ago=days) for days in (5, 4, 3, 2, 1)]
    quiet_run = add_execution(db, quiet, ended_days_ago=9)
    running = add_execution(db, busy, status="started", created=NOW - 50 * DAY)
    policy = RetentionPolicy({Kind.EXECUTIONS: Keep(max_count=2)}, batch_size=2)

    assert purge(db, policy)[Kind.EXECUTIONS] == 3

    assert ids(db, t.executions) == {*busy_runs[-2:], quiet_run, running}


def test_a_workflow_with_a_live_relative_is_kept(db: Database) -> None:
    task = add_task(db)
    # A parked parent (started, no process) whose member ended long ago: both stay, the
    # parent may still read its member's result.
    parent = add_execution(db, task, status="started", parked=True, created=NOW - 90 * DAY)
    member = add_execution(db, task, ended_days_ago=60, parent_id=parent)
    # An ended parent whose member still runs: the parent stays until the member ends.
    ended_parent = add_execution(db, task, ended_days_ago=60)
    live_member = add_execution(db, task, status="started", parent_id=ended_parent)
    # A finished workflow: parent and member go.
    done_parent = add_execution(db, task, ended_days_ago=60)
    done_member = add_execution(db, task, ended_days_ago=60, parent_id=done_parent)
    policy = RetentionPolicy({Kind.EXECUTIONS: Keep(max_age_days=30, max_count=1)})

    purge(db, policy)

    remaining = ids(db, t.executions)
    assert {parent, member, ended_parent, live_member} <= remaining
    assert not {done_parent, done_member} & remaining


def test_audit_history_and_deliveries(db: Database) -> None:
    task = add_task(db)
    with db.engine.begin() as conn:
        conn.execute(
            t.audit_log.insert(),
            [
                {"at": NOW - days * DAY, "actor": "a", "action": "x", "target": "y", "details": {}}
                for days in (400, 380, 10, 5, 1)
            ],
        )
        for schedule in ("s1", "s2"):
            conn.execute(
                t.schedules.insert().values(
                    id=schedule,
                    name=schedule,
                    task_id=task,
                    source="api",
                    enabled=True,
                    spec={},
                    fire_count=0,
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
        conn.execute(
            t.schedule_history.insert(),
            [
                {
                    "schedule_id": schedule,
                    "slot": NOW - days * DAY,
                    "slots": 1,
                    "outcome": "started",
                    "recorded_at": NOW - days * DAY,
                    "late_ms": 0,
                    "node": "n",
                    "message": "",
                }
                for schedule in ("s1", "s2")
                for days in (50, 20, 3, 2, 1)
            ],
        )
        conn.execute(
            t.webhook_deliveries.insert(),
            [
                {
                    "webhook_id": "w",
                    "execution_id": "e",
                    "event_status": "finished_success",
                    "payload": {},
                    "state": state,
                    "attempts": 1,
                    "last_error": "",
                    "created_at": NOW - days * DAY,
                }
                for state, days in [
                    ("delivered", 40),
                    ("failed", 40),
                    ("pending", 40),
                    ("delivered", 1),
                ]
            ],
        )
    policy = RetentionPolicy(
        {
            Kind.AUDIT: Keep(max_age_days=365, max_count=2),
            Kind.SCHEDULE_HISTORY: Keep(max_age_days=30, max_count=3),
            Kind.WEBHOOK_DELIVERIES: Keep(max_age_days=30),
        },
        batch_size=3,
    )

    counts = purge(db, policy)

    # audit: two past a year, then one past the newest two
    assert counts[Kind.AUDIT] == 3
    # fire history: per schedule, one past 30 days and one past the newest three
    assert counts[Kind.SCHEDULE_HISTORY] == 4
    # deliveries: the old finished ones; a pending delivery stays, however old
    assert counts[Kind.WEBHOOK_DELIVERIES] == 2
    with db.engine.connect() as conn:
        states = list(conn.scalars(sa.select(t.webhook_deliveries.c.state)))
    assert sorted(states) == ["delivered", "pending"]
    assert counts[Kind.EXECUTIONS] == 0
