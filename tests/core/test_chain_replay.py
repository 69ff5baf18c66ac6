"""A chain rule fires once for the same ends, even when an end is fired again (replayed)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import Connection

from taskgate.core.context import CoreContext
from taskgate.core.endings import AfterCommit, Ended
from taskgate.core.events import EventBus
from taskgate.core.services import Services
from taskgate.core.starts.request import StartRequest
from taskgate.domain.chains import ChainSpec
from taskgate.domain.executions import Caller
from taskgate.domain.selectors import parse_selector
from taskgate.domain.tasks import TaskSpec
from taskgate.engine.actions import ActionCatalog
from taskgate.engine.local import ExecutorLimits, LocalExecutor
from taskgate.store.db import Database
from tests.conftest import Backend

CALLER = Caller("t", scope="t")


def test_a_replayed_end_fires_nothing_twice(backend: Backend, tmp_path: Path) -> None:
    db = Database(backend.new_database(tmp_path) or f"sqlite:///{tmp_path / 'db.sqlite'}")

    async def main() -> None:
        await db.migrate()
        ctx = CoreContext(db=db, bus=EventBus(), node="n")
        services = Services.build(ctx, auth_none=True)
        await services.tokens.load()
        executor = LocalExecutor(
            ctx,
            ExecutorLimits(lease_seconds=5),
            tmp_path,
            "http://127.0.0.1:1",
            services.tokens,
            ActionCatalog(),
        )
        ctx.executor = executor
        await executor.start()
        try:
            for label in ("a", "b", "c"):
                action = {"kind": "command", "argv": ["true"]}
                spec = {"name": label, "label": label, "action": action}
                await services.tasks.create(TaskSpec.model_validate(spec), CALLER)
            await services.chains.create(
                ChainSpec.model_validate({"when": [{"task": "a"}], "start": "b"}), CALLER
            )
            await services.chains.create(
                ChainSpec.model_validate(
                    {"when": [{"task": "a"}, {"task": "b"}], "match": "all", "start": "c"}
                ),
                CALLER,
            )
            request = StartRequest([parse_selector("a")], origin="test", caller=CALLER)
            a = (await services.starts.start(request)).executions[0]
            ended, _ = await services.executions.wait(a.id, 30)

            async def chained(label: str) -> list[str]:
                found, _ = await services.executions.listing(
                    task=label, statuses=(), origin="chain", limit=100, cursor=None
                )
                return [e.id for e in found]

            async def settle(label: str) -> str:
                for _ in range(600):
                    runs = await chained(label)
                    if runs:
                        done, _ = await services.executions.wait(runs[0], 30)
                        return done.id
                    await asyncio.sleep(0.05)
                raise AssertionError(f"no chained {label}")

            b = await settle("b")
            c = await settle("c")
            # Fire every end again, as a replay would.
            for execution_id in (a.id, b):
                execution = await services.executions.get(execution_id)
                after = AfterCommit()
                end = Ended(
                    execution_id,
                    execution.task_id,
                    execution.status,
                    execution.finished_at or ended.created_at,
                    execution.origin,
                )

                def replay(conn: Connection, end: Ended = end, after: AfterCommit = after) -> None:
                    ctx.endings.fire(conn, [end], after)

                await db.write(replay)
                after.run(ctx.bus)
            await asyncio.sleep(0.2)
            assert await chained("b") == [b]
            assert await chained("c") == [c]
        finally:
            await executor.stop()
            await db.close()

    asyncio.run(main())
