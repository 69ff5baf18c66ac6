"""The bound on executions waiting to run (core/starts/bound.py), in the core on both
databases. No executor runs here: every accepted start stays queued, so the queue's length is
exactly what the starts made."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from taskgate.core.clock import utcnow
from taskgate.core.services import Services
from taskgate.core.starts.bound import QueueBound
from taskgate.core.starts.request import StartResult
from taskgate.domain.chains import ChainLink
from taskgate.domain.errors import QueueFull, TaskgateError
from taskgate.domain.kv import KvWrite
from taskgate.domain.status import Status
from taskgate.schedules.spec import ScheduleSpec
from taskgate.store.db import Database
from taskgate.store.tables import executions, schedules
from tests.conftest import Backend
from tests.core_support import CALLER, make_task, request, run_with_services, services_on


async def waiting(services: Services) -> int:
    def count(conn: sa.Connection) -> int:
        query = sa.select(sa.func.count()).where(executions.c.status == Status.QUEUED.value)
        return int(conn.execute(query).scalar_one())

    return await services.ctx.db.read(count)


def test_the_start_past_the_bound_is_refused(backend: Backend, tmp_path: Path) -> None:
    async def check(services: Services) -> None:
        await make_task(services, "a")
        for _ in range(2):
            assert (await services.starts.start(request("label:a"))).started == 1
        with pytest.raises(QueueFull) as refused:
            await services.starts.start(request("label:a"))
        error = refused.value
        assert error.field == "executor.max_queued"
        assert error.retry_after == 7
        assert "executor.max_queued: 2" in error.message
        assert error.to_dict()["error"] == "queue_full"
        assert error.details == {"bound": "executor.max_queued", "max_queued": 2, "retry_after": 7}
        assert await waiting(services) == 2
        assert services.starts.bound.refused == {("executor.max_queued", "test"): 1}

    run_with_services(backend, tmp_path, check, queue_bound=QueueBound(2, retry_after=7))


def test_a_batch_is_cut_at_the_bound(backend: Backend, tmp_path: Path) -> None:
    async def check(services: Services) -> None:
        await make_task(services, "a")
        answers = await services.starts.start_many(
            [
                request("label:a"),
                request("label:a", kv_items=[KvWrite("ns", "one", "1")]),
                request("label:a", kv_items=[KvWrite("ns", "two", "2")]),
                request("label:a"),
            ]
        )
        assert [type(a) for a in answers] == [StartResult, StartResult, QueueFull, QueueFull]
        # The refused request's key-value item went with it.
        assert await services.kv.find("ns", "one") is not None
        assert await services.kv.find("ns", "two") is None
        assert await waiting(services) == 2

    run_with_services(backend, tmp_path, check, queue_bound=QueueBound(2))


def test_a_request_for_several_tasks_is_refused_whole(backend: Backend, tmp_path: Path) -> None:
    async def check(services: Services) -> None:
        await make_task(services, "a", tags=["both"])
        await make_task(services, "b", tags=["both"])
        await services.starts.start(request("tag:both"))
        with pytest.raises(QueueFull):
            await services.starts.start(request("tag:both"))  # one place left, two asked
        assert await waiting(services) == 2
        assert (await services.starts.start(request("label:a"))).started == 1

    run_with_services(backend, tmp_path, check, queue_bound=QueueBound(3))


def test_a_task_bound_counts_only_its_task(backend: Backend, tmp_path: Path) -> None:
    async def check(services: Services) -> None:
        bounded = await make_task(services, "a", concurrency={"max_queued": 1})
        await make_task(services, "b")
        await services.starts.start(request("label:a"))
        with pytest.raises(QueueFull) as refused:
            await services.starts.start(request("label:a"))
        assert refused.value.field == "concurrency.max_queued"
        assert refused.value.details["task_id"] == bounded
        assert "task 'a'" in refused.value.message
        for _ in range(3):
            assert (await services.starts.start(request("label:b"))).started == 1
        assert services.starts.bound.refused == {("concurrency.max_queued", "test"): 1}

    run_with_services(backend, tmp_path, check, queue_bound=QueueBound())


def test_skipped_starts_take_no_place(backend: Backend, tmp_path: Path) -> None:
    async def check(services: Services) -> None:
        await make_task(services, "s", concurrency={"overlap": "skip", "max_queued": 1})
        first = await services.starts.start(request("label:s"))
        assert first.executions[0].status is Status.QUEUED
        for _ in range(3):
            # Skipped at birth: nothing waits, so the bound has nothing to refuse.
            skipped = await services.starts.start(request("label:s"))
            assert skipped.executions[0].status is Status.SKIPPED

    run_with_services(backend, tmp_path, check, queue_bound=QueueBound(1))


def test_work_in_progress_is_never_refused(backend: Backend, tmp_path: Path) -> None:
    """A workflow's member (parent_id) and a chain rule's start are admitted past the bound,
    and counted: the next start from outside is refused."""

    async def check(services: Services) -> None:
        await make_task(services, "a")
        parent = (await services.starts.start(request("label:a"))).executions[0].id
        link = ChainLink(chain_id="c", triggered_by=(parent,), depth=1)

        def inside(conn: sa.Connection) -> list[int]:
            member = services.starts.start_in(conn, request("label:a", parent_id=parent))
            chained = services.starts.start_in(conn, request("label:a", chain=link))
            return [member.result.started, chained.result.started]

        assert await services.ctx.db.write(inside) == [1, 1]
        assert await waiting(services) == 3
        with pytest.raises(QueueFull):
            await services.starts.start(request("label:a"))
        assert services.starts.bound.refused[("executor.max_queued", "test")] == 1

    run_with_services(backend, tmp_path, check, queue_bound=QueueBound(1))


def test_concurrent_starts_from_two_servers_never_overshoot(
    backend: Backend, tmp_path: Path
) -> None:
    """Two servers (two engines on one database) start at once: exactly the bound is accepted.

    On PostgreSQL each count waits at a barrier for the other transaction's count: without
    the lock both would count the same free place and both insert (the test then fails);
    with it the second cannot count before the first committed, so the barrier gives up
    after its timeout and the first goes on alone."""
    bound = 1
    url = backend.new_database(tmp_path) or f"sqlite:///{tmp_path / 'db.sqlite'}"
    both_counted = threading.Barrier(2, timeout=2)

    def at_count(*args: object) -> None:
        statement = str(args[2])
        if "count(*)" in statement and "LIMIT" in statement:
            with contextlib.suppress(threading.BrokenBarrierError):
                both_counted.wait()

    async def one(services: Services) -> StartResult | TaskgateError:
        try:
            return await services.starts.start(request("label:a"))
        except TaskgateError as exc:
            return exc

    async def main() -> None:
        db1, db2 = Database(url), Database(url)
        await db1.migrate()
        try:
            first = services_on(db1, queue_bound=QueueBound(bound))
            second = services_on(db2, queue_bound=QueueBound(bound))
            await make_task(first, "a")
            if backend.name == "postgres":
                for db in (db1, db2):
                    event.listen(db.engine, "before_cursor_execute", at_count)
            answers = await asyncio.gather(one(first), one(second))
            accepted = [a for a in answers if isinstance(a, StartResult)]
            refused = [a for a in answers if isinstance(a, QueueFull)]
            assert (len(accepted), len(refused)) == (1, 1), answers
            assert await waiting(first) == bound
        finally:
            await db1.close()
            await db2.close()

    asyncio.run(main())


def test_a_scheduled_fire_past_the_bound_is_recorded_not_lost(
    backend: Backend, tmp_path: Path
) -> None:
    async def check(services: Services) -> None:
        await make_task(services, "a")
        await services.starts.start(request("label:a"))
        schedule = await services.schedules.create(ScheduleSpec(task="a", cron="@daily"), CALLER)
        now = utcnow()
        await services.ctx.db.write(
            lambda conn: conn.execute(
                schedules.update()
                .where(schedules.c.id == schedule.id)
                .values(next_slot=now, next_fire_at=now)
            )
        )
        await services.schedules.fire_due()
        [entry] = await services.schedules.history(schedule.id)
        assert entry.outcome == "not_started"
        assert "executor.max_queued" in entry.message
        assert entry.execution_id is None
        moved = await services.schedules.get(schedule.id)
        assert moved.next_slot is not None and moved.next_slot > entry.slot
        assert services.starts.bound.refused[("executor.max_queued", "schedule")] == 1

    run_with_services(backend, tmp_path, check, queue_bound=QueueBound(1))
