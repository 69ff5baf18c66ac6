"""Firing in the core, on a real SQLite database in process: what a due slot records when
the start cannot happen, and that a refused start writes nothing but the history."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa

from taskgate.core.clock import utcnow
from taskgate.core.context import CoreContext
from taskgate.core.events import EventBus
from taskgate.core.services import Services
from taskgate.domain.errors import Forbidden
from taskgate.domain.executions import Caller
from taskgate.domain.tasks import TaskSpec
from taskgate.schedules.spec import ScheduleSpec
from taskgate.store.db import Database
from taskgate.store.tables import audit_log, executions, idempotency_keys, schedules

T = TypeVar("T")
CALLER = Caller("tester", scope="tester")


def task_spec(**fields: Any) -> TaskSpec:
    return TaskSpec.model_validate(
        {"name": "t", "label": "t", "action": {"kind": "command", "argv": ["true"]}, **fields}
    )


def run(tmp_path: Path, test: Callable[[Services], Awaitable[T]]) -> T:
    async def main() -> T:
        db = Database(f"sqlite:///{tmp_path / 'db.sqlite'}")
        await db.migrate()
        services = Services.build(CoreContext(db=db, bus=EventBus(), node="n"), auth_none=True)
        try:
            return await test(services)
        finally:
            await db.close()

    return asyncio.run(main())


async def make_due(services: Services, schedule_id: str) -> None:
    now = utcnow()
    await services.ctx.db.write(
        lambda conn: conn.execute(
            schedules.update()
            .where(schedules.c.id == schedule_id)
            .values(next_slot=now, next_fire_at=now)
        )
    )


def count(services: Services, table: sa.Table) -> Awaitable[int]:
    return services.ctx.db.read(
        lambda conn: conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
    )


def test_a_refused_start_writes_only_the_history(tmp_path: Path) -> None:
    async def test(services: Services) -> None:
        await services.tasks.create(task_spec(), CALLER)
        schedule = await services.schedules.create(ScheduleSpec(task="t", cron="@daily"), CALLER)
        # the task now requires a parameter the schedule does not give
        needs = task_spec(params=[{"name": "region", "required": True}])
        task = await services.tasks.get("t")
        await services.tasks.put(task.id, needs, CALLER)
        before = await count(services, audit_log)
        await make_due(services, schedule.id)
        await services.schedules.fire_due()
        [entry] = await services.schedules.history(schedule.id)
        assert entry.outcome == "not_started"
        assert "params.region" in entry.message
        assert await count(services, executions) == 0
        assert await count(services, idempotency_keys) == 0
        assert await count(services, audit_log) == before
        moved = await services.schedules.get(schedule.id)
        assert moved.next_slot is not None and moved.next_slot > entry.slot
        assert moved.fire_count == 0

    run(tmp_path, test)


def test_disabled_task_and_replayed_slot(tmp_path: Path) -> None:
    async def test(services: Services) -> None:
        await services.tasks.create(task_spec(enabled=False), CALLER)
        schedule = await services.schedules.create(ScheduleSpec(task="t", cron="@daily"), CALLER)
        await make_due(services, schedule.id)
        await services.schedules.fire_due()
        [entry] = await services.schedules.history(schedule.id)
        assert entry.outcome == "not_started"
        assert "task is disabled" in entry.message

        task = await services.tasks.get("t")
        await services.tasks.put(task.id, task_spec(), CALLER)
        await make_due(services, schedule.id)
        await services.schedules.fire_due()
        fired = (await services.schedules.history(schedule.id))[0]
        assert fired.outcome == "fired" and fired.execution_id
        # the same slot made due again (by hand): it never starts twice
        await services.ctx.db.write(
            lambda conn: conn.execute(
                schedules.update().values(next_slot=fired.slot, next_fire_at=fired.slot)
            )
        )
        await services.schedules.fire_due()
        again = (await services.schedules.history(schedule.id))[0]
        assert again.outcome == "not_started"
        assert "already started" in again.message
        assert fired.execution_id in again.message
        assert await count(services, executions) == 1

    run(tmp_path, test)


def test_deleting_the_task_deletes_its_schedules(tmp_path: Path) -> None:
    async def test(services: Services) -> None:
        await services.tasks.create(task_spec(), CALLER)
        schedule = await services.schedules.create(ScheduleSpec(task="t", cron="@daily"), CALLER)
        await make_due(services, schedule.id)
        await services.schedules.fire_due()
        await services.tasks.delete("t", CALLER)
        assert await services.schedules.listing() == ([], 0)

    run(tmp_path, test)


def test_pause_all_and_resume_all(tmp_path: Path) -> None:
    async def test(services: Services) -> None:
        await services.tasks.create(task_spec(), CALLER)
        for _ in range(3):
            await services.schedules.create(ScheduleSpec(task="t", cron="@hourly"), CALLER)
        paused = await services.schedules.set_all_enabled(False, CALLER)
        assert {s.state for s in paused} == {"paused"}
        assert await services.schedules.fire_due() is None
        resumed = await services.schedules.set_all_enabled(True, CALLER)
        assert {s.state for s in resumed} == {"active"}
        assert await services.schedules.fire_due() == min(s.next_fire_at for s in resumed)  # type: ignore[type-var]

    run(tmp_path, test)


def test_a_schedule_that_cannot_compute_its_slots_stops_alone(tmp_path: Path) -> None:
    async def test(services: Services) -> None:
        await services.tasks.create(task_spec(), CALLER)
        broken = await services.schedules.create(ScheduleSpec(task="t", cron="@daily"), CALLER)
        fine = await services.schedules.create(ScheduleSpec(task="t", cron="@daily"), CALLER)
        # as if the zone had gone from the time zone database since it was saved
        await services.ctx.db.write(
            lambda conn: conn.execute(
                schedules.update()
                .where(schedules.c.id == broken.id)
                .values(
                    spec=sa.func.replace(sa.cast(schedules.c.spec, sa.Text), "UTC", "Nowhere/Gone")
                )
            )
        )
        await make_due(services, broken.id)
        await make_due(services, fine.id)
        await services.schedules.fire_due()
        [entry] = await services.schedules.history(broken.id)
        assert entry.outcome == "not_started"
        assert "Nowhere/Gone" in entry.message and "stopped" in entry.message
        assert (await services.schedules.get(broken.id)).state == "ended"
        [ok] = await services.schedules.history(fine.id)
        assert ok.outcome == "fired"

    run(tmp_path, test)


def test_a_key_with_an_allow_list_schedules_only_its_tasks(tmp_path: Path) -> None:
    async def test(services: Services) -> None:
        await services.tasks.create(task_spec(), CALLER)
        limited = Caller("key:limited", scope="k1", allowed_tasks=frozenset({"other"}))
        try:
            await services.schedules.create(ScheduleSpec(task="t", cron="@daily"), limited)
        except Forbidden as exc:
            assert exc.field == "task"
        else:
            raise AssertionError("a task off the allow-list was scheduled")
        allowed = Caller("key:allowed", scope="k2", allowed_tasks=frozenset({"t"}))
        made = await services.schedules.create(ScheduleSpec(task="t", cron="@daily"), allowed)
        assert made.task_name == "t"

    run(tmp_path, test)


def test_jitter_delays_the_fire_time_not_the_slot(tmp_path: Path) -> None:
    async def test(services: Services) -> None:
        await services.tasks.create(task_spec(), CALLER)
        spec = ScheduleSpec(task="t", cron="@hourly", jitter_seconds=30)
        made = await services.schedules.create(spec, CALLER)
        assert made.next_slot is not None and made.next_fire_at is not None
        assert made.next_slot.minute == 0 and made.next_slot.second == 0
        assert 0 <= (made.next_fire_at - made.next_slot).total_seconds() <= 30

    run(tmp_path, test)
