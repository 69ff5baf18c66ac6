"""Claims and leases at the store, on real databases: two transactions that claim at the same
moment never both fill one slot of a task; leases renew in one statement, expire, and fence a
process that lost its execution from writing its end."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from taskgate.core.clock import utcnow
from taskgate.domain.status import Status
from taskgate.domain.tasks import Task
from taskgate.engine.claim import claim
from taskgate.engine.leases import Holder
from taskgate.store import executions as rows
from taskgate.store import holding
from taskgate.store.db import Database
from taskgate.store.tables import attempts
from tests.conftest import Backend

A = Holder("node", "node/1-aaaa", 30.0)
B = Holder("node", "node/2-bbbb", 30.0)


def one_at_a_time() -> Task:
    return a_task("one at a time", {"max_running": 1, "overlap": "queue"})


def a_task(name: str, concurrency: dict[str, Any]) -> Task:
    now = utcnow()
    return Task.model_validate(
        {
            "id": str(uuid.uuid4()),
            "name": name,
            "action": {"kind": "command", "argv": ["true"]},
            "concurrency": concurrency,
            "created_at": now,
            "updated_at": now,
        }
    )


def queued(task: Task) -> dict[str, Any]:
    now = utcnow()
    return {
        "id": str(uuid.uuid4()),
        "task_id": task.key,
        "task_name": task.name,
        "task_spec": task.model_dump(mode="json"),
        "status": Status.QUEUED.value,
        "origin": "api",
        "caller": "test",
        "params": {},
        "created_at": now,
        "attempt_count": 0,
        "message": "",
        "log_size": 0,
        "log_dropped": 0,
    }


def database(backend: Backend, tmp_path: Path) -> Database:
    db = Database(backend.new_database(tmp_path) or f"sqlite:///{tmp_path / 'db.sqlite'}")
    asyncio.run(db.migrate())
    return db


def test_claims_at_the_same_moment_keep_a_tasks_limit(backend: Backend, tmp_path: Path) -> None:
    if backend.pg_url is None:
        pytest.skip("SQLite runs one write transaction at a time")
    db = database(backend, tmp_path)
    task = one_at_a_time()
    with db.engine.begin() as conn:
        rows.insert(conn, [queued(task) for _ in range(30)])
    with db.engine.connect() as first, db.engine.connect() as second:
        first.begin()
        second.begin()
        # The first locks the queued rows it looked at (not all 30) and claims one.
        assert len(claim(first, 1, A)) == 1
        # It has not committed: without a lock on the task the second would count no run of
        # it, find a queued row the first did not look at, and claim it too.
        assert claim(second, 8, B) == []
        first.commit()
        second.commit()
        second.begin()
        assert claim(second, 8, B) == []  # one runs: the slot is taken
        second.commit()
    asyncio.run(db.close())


def test_a_task_at_its_limit_does_not_hold_back_the_queue_behind_it(
    backend: Backend, tmp_path: Path
) -> None:
    db = database(backend, tmp_path)
    limited = one_at_a_time()
    free_running = a_task("any number at once", {"overlap": "allow"})
    waiting = [queued(limited) for _ in range(5)] + [queued(free_running) for _ in range(2)]
    for i, row in enumerate(waiting):  # queued in this order, oldest first
        row["created_at"] = waiting[0]["created_at"] + timedelta(milliseconds=i)
    behind = waiting[5:]
    with db.engine.begin() as conn:
        rows.insert(conn, waiting)
        # Two slots: the limited task's oldest run and the first run queued behind its others.
        claimed = claim(conn, 2, A)
    assert [run.task.key for run in claimed] == [limited.key, free_running.key]
    assert claimed[1].execution_id == behind[0]["id"]
    asyncio.run(db.close())


def test_a_claim_of_one_named_execution_of_a_task_at_its_limit_takes_nothing(
    backend: Backend, tmp_path: Path
) -> None:
    # A Celery worker claims the one execution its message names.
    db = database(backend, tmp_path)
    task = one_at_a_time()
    first, second = queued(task), queued(task)
    with db.engine.begin() as conn:
        rows.insert(conn, [first, second])
        assert len(claim(conn, 1, A, only=first["id"])) == 1
    with db.engine.begin() as conn:
        assert claim(conn, 1, B, only=second["id"]) == []
    asyncio.run(db.close())


def test_a_claim_takes_queued_runs_and_due_retries_with_what_they_carry(
    backend: Backend, tmp_path: Path
) -> None:
    db = database(backend, tmp_path)
    task = a_task("any number at once", {"overlap": "allow"})
    now = utcnow()
    fresh = queued(task) | {"params": {"n": 1}, "chain_id": "r", "triggered_by": ["e0"]}
    due = queued(task) | {"status": Status.RETRY.value, "not_before": now, "attempt_count": 1}
    later = due | {"id": str(uuid.uuid4()), "not_before": now + timedelta(hours=1)}
    ended = queued(task) | {"id": str(uuid.uuid4()), "status": Status.FINISHED_SUCCESS.value}
    for row in (fresh, due, later, ended):
        row.setdefault("not_before", None)
        row.setdefault("chain_id", None)
        row.setdefault("triggered_by", None)
    with db.engine.begin() as conn:
        rows.insert(conn, [fresh, due, later, ended])
        claimed = {run.execution_id: run for run in claim(conn, 8, A)}
    assert set(claimed) == {fresh["id"], due["id"]}
    first, retried = claimed[fresh["id"]], claimed[due["id"]]
    assert first.params == {"n": 1} and first.number == 1
    assert first.chain is not None and first.chain.triggered_by == ("e0",)
    assert first.created_at == fresh["created_at"]
    assert retried.number == 2 and retried.task.key == task.key
    asyncio.run(db.close())


def test_leases_renew_expire_and_fence(backend: Backend, tmp_path: Path) -> None:
    db = database(backend, tmp_path)
    task = one_at_a_time()
    with db.engine.begin() as conn:
        rows.insert(conn, [queued(task)])
        [run] = claim(conn, 8, A)
    with db.engine.begin() as conn:
        later = utcnow() + timedelta(seconds=30)
        assert holding.renew_leases(conn, A.instance, utcnow(), later) == {run.execution_id}
        assert holding.renew_leases(conn, B.instance, utcnow(), later) == set()
        assert holding.expired_leases(conn, utcnow()) == []
        # A stops renewing: once its lease has ended, the row is an orphan.
        holding.renew_leases(conn, A.instance, utcnow(), utcnow() - timedelta(seconds=1))
        [orphan] = holding.expired_leases(conn, utcnow())
        assert orphan.id == run.execution_id and orphan.instance == A.instance
        # Taken over (ended, let go): A can no longer write its end.
        rows.update(conn, run.execution_id, status="error", instance=None, lease_until=None)
        assert not holding.update_held(
            conn, run.execution_id, A.instance, 1, status="finished_success"
        )
        status = conn.execute(
            sa.text("SELECT status FROM executions WHERE id = :i"), {"i": run.execution_id}
        ).scalar()
        assert status == "error"
    asyncio.run(db.close())


@pytest.mark.parametrize("named", [True, False], ids=["a message's execution", "one free slot"])
def test_a_claim_of_one_execution_writes_its_row_and_its_attempt(
    backend: Backend, tmp_path: Path, named: bool
) -> None:
    # One claimed execution is written by one statement on PostgreSQL (`holding.claim_one`).
    db = database(backend, tmp_path)
    task = a_task("any number at once", {"overlap": "allow"})
    now = utcnow()
    retry = queued(task) | {
        "status": Status.RETRY.value,
        "not_before": now,
        "attempt_count": 1,
        "started_at": now - timedelta(minutes=1),
    }
    with db.engine.begin() as conn:
        rows.insert(conn, [retry])
        rows.insert_attempts(
            conn,
            [
                {
                    "execution_id": retry["id"],
                    "number": 1,
                    "status": Status.FINISHED_FAIL.value,
                    "node": "earlier",
                    "started_at": retry["started_at"],
                    "message": "exit 1",
                }
            ],
        )
    with db.engine.begin() as conn:
        claimed = claim(conn, 1, A, only=retry["id"] if named else None)
    assert [(run.execution_id, run.number) for run in claimed] == [(retry["id"], 2)]
    with db.engine.connect() as conn:
        execution = rows.get_row(conn, retry["id"])
        tries = conn.execute(
            sa.select(attempts.c.number, attempts.c.status, attempts.c.node)
            .where(attempts.c.execution_id == retry["id"])
            .order_by(attempts.c.number)
        ).all()
    assert execution is not None
    assert (execution.status, execution.attempt_count, execution.instance) == (
        Status.STARTED.value,
        2,
        A.instance,
    )
    assert execution.started_at == retry["started_at"]  # a retry keeps its first start
    assert execution.not_before is None and execution.lease_until > now
    assert [tuple(t) for t in tries] == [
        (1, Status.FINISHED_FAIL.value, "earlier"),
        (2, Status.STARTED.value, "node"),
    ]
    asyncio.run(db.close())
