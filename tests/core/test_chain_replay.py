"""A chain rule fires once for the same ends, even when an end is fired again (replayed)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import Connection

from taskgate.core.endings import AfterCommit, Ended
from taskgate.domain.chains import ChainSpec
from tests.conftest import Backend
from tests.core_support import CALLER, make_task, request, running_core


def test_a_replayed_end_fires_nothing_twice(backend: Backend, tmp_path: Path) -> None:
    async def main() -> None:
        async with running_core(backend, tmp_path) as services:
            ctx, db = services.ctx, services.ctx.db
            for label in ("a", "b", "c"):
                await make_task(services, label)
            await services.chains.create(
                ChainSpec.model_validate({"when": [{"task": "a"}], "start": "b"}), CALLER
            )
            await services.chains.create(
                ChainSpec.model_validate(
                    {"when": [{"task": "a"}, {"task": "b"}], "match": "all", "start": "c"}
                ),
                CALLER,
            )
            a = (await services.starts.start(request("a"))).executions[0]
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

    asyncio.run(main())
