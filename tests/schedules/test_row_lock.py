"""The schedule row lock, tested directly: while one scheduler holds a due schedule (its claim
not yet committed), another one's claim gets nothing; a slot fires once across processes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import sqlalchemy as sa

from taskgate.core.clock import utcnow
from taskgate.core.context import CoreContext
from taskgate.core.events import EventBus
from taskgate.core.services import Services
from taskgate.domain.executions import Caller
from taskgate.domain.tasks import TaskSpec
from taskgate.schedules.spec import ScheduleSpec
from taskgate.store import schedules as rows
from taskgate.store.db import Database
from taskgate.store.tables import schedules
from tests.conftest import Backend

CALLER = Caller("tester", scope="tester")


def due_schedule(db: Database) -> str:
    async def main() -> str:
        services = Services.build(CoreContext(db=db, bus=EventBus(), node="n"), auth_none=True)
        spec = TaskSpec.model_validate(
            {"name": "t", "label": "t", "action": {"kind": "command", "argv": ["true"]}}
        )
        await services.tasks.create(spec, CALLER)
        schedule = await services.schedules.create(ScheduleSpec(task="t", cron="@daily"), CALLER)
        now = utcnow()
        await db.write(
            lambda conn: conn.execute(
                schedules.update()
                .where(schedules.c.id == schedule.id)
                .values(next_slot=now, next_fire_at=now)
            )
        )
        return schedule.id

    return asyncio.run(main())


def test_a_second_claim_while_the_first_is_open_gets_nothing(
    backend: Backend, tmp_path: Path
) -> None:
    if backend.pg_url is None:
        pytest.skip("SQLite runs one write transaction at a time (BEGIN IMMEDIATE)")
    url = backend.new_database(tmp_path)
    assert url is not None
    db = Database(url)
    asyncio.run(db.migrate())
    schedule_id = due_schedule(db)
    try:
        with db.engine.connect() as first, db.engine.connect() as second:
            first.begin()
            second.begin()
            [held] = rows.claim_due(first, utcnow(), 10)
            assert held.id == schedule_id
            # Held by the first, not yet moved on: the second skips it.
            assert rows.claim_due(second, utcnow(), 10) == []
            second.rollback()
            # The first gives it up without firing: the next claim gets it again.
            first.rollback()
            second.begin()
            assert [s.id for s in rows.claim_due(second, utcnow(), 10)] == [schedule_id]
            # A claim that moves the slot on and commits leaves nothing due for anyone.
            second.execute(
                schedules.update()
                .where(schedules.c.id == schedule_id)
                .values(next_fire_at=sa.func.now() + sa.text("interval '1 day'"))
            )
            second.commit()
            first.begin()
            assert rows.claim_due(first, utcnow(), 10) == []
            first.rollback()
    finally:
        asyncio.run(db.close())
