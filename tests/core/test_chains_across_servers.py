"""Chain rules changed by another server, on PostgreSQL: the very next end on this server
fires the rules as they are now (created, changed, disabled, deleted), though it keeps the
rules it parsed and reads only their versions."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import Connection

from taskgate.core.clock import utcnow
from taskgate.core.endings import AfterCommit, Ended
from taskgate.core.services import Services
from taskgate.domain.chains import ChainSpec
from taskgate.domain.status import Status
from taskgate.store.db import Database
from tests.conftest import Backend, postgres_backend
from tests.core_support import CALLER, make_task, request, services_on


@pytest.fixture
def pg(_backends: dict[str, Backend]) -> Backend:
    return postgres_backend(_backends)


def rule(start: str, *, enabled: bool = True) -> ChainSpec:
    return ChainSpec.model_validate(
        {"id": "r", "when": [{"task": "a"}], "start": start, "enabled": enabled}
    )


async def end_of_a(here: Services) -> None:
    """A new execution of `a` ends on this server (its chain rules fire in the end's
    transaction)."""
    started = (await here.starts.start(request("label:a"))).executions[0]
    end = Ended(started.id, started.task_id, Status.FINISHED_SUCCESS, utcnow(), "test")
    after = AfterCommit()

    def work(conn: Connection) -> None:
        here.ctx.endings.fire(conn, [end], after)

    await here.ctx.db.write(work)
    after.run(here.ctx.bus)


async def chained(here: Services, label: str) -> int:
    found, _ = await here.executions.listing(
        task=label, statuses=(), origin="chain", limit=100, cursor=None
    )
    return len(found)


def test_the_next_end_sees_every_rule_change_another_server_made(
    pg: Backend, tmp_path: Path
) -> None:
    async def main() -> None:
        url = pg.new_database(tmp_path)
        assert url is not None
        # Two servers on one database: each its own engine, pool and parsed rules.
        here_db, there_db = Database(url), Database(url)
        try:
            await here_db.migrate()
            here, there = services_on(here_db), services_on(there_db)
            for label in ("a", "b", "c"):
                await make_task(here, label)

            async def after_an_end() -> tuple[int, int]:
                await end_of_a(here)
                return await chained(here, "b"), await chained(here, "c")

            assert await after_an_end() == (0, 0)  # no rule yet: this server has read none
            await there.chains.create(rule("label:b"), CALLER)
            assert await after_an_end() == (1, 0)
            await there.chains.put("r", rule("label:c"), CALLER)
            assert await after_an_end() == (1, 1)
            await there.chains.put("r", rule("label:c", enabled=False), CALLER)
            assert await after_an_end() == (1, 1)
            await there.chains.put("r", rule("label:b"), CALLER)
            assert await after_an_end() == (2, 1)
            await there.chains.delete("r", CALLER)
            assert await after_an_end() == (2, 1)
        finally:
            await here_db.close()
            await there_db.close()

    asyncio.run(main())
