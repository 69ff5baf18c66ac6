"""A node's slots hold however its runs are claimed: in the starts' own transactions (on
PostgreSQL on database threads, beside the dispatcher's claims) or by the dispatcher."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

from taskgate.core.context import CoreContext
from taskgate.core.events import EventBus
from taskgate.core.services import Services
from taskgate.core.starts.request import StartRequest
from taskgate.domain.executions import Caller
from taskgate.domain.selectors import parse_selector
from taskgate.domain.status import Status
from taskgate.domain.tasks import TaskSpec
from taskgate.engine.actions import ActionCatalog
from taskgate.engine.actions.contract import Resources
from taskgate.engine.local import ExecutorLimits, LocalExecutor
from taskgate.store.db import Database
from tests.conftest import Backend

CALLER = Caller("tester", scope="t")
SLOTS = 2
STARTS = 30
CLIENTS = 3


def most_at_once(spans: list[tuple[datetime, datetime]]) -> int:
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    running = most = 0
    for _, step in edges:  # an end sorts before a start at the same instant
        running += step
        most = max(most, running)
    return most


def test_a_burst_of_starts_runs_within_the_nodes_slots(backend: Backend, tmp_path: Path) -> None:
    db = Database(backend.new_database(tmp_path) or f"sqlite:///{tmp_path / 'db.sqlite'}")

    async def main() -> None:
        await db.migrate()
        ctx = CoreContext(db=db, bus=EventBus(), node="n")
        actions = ActionCatalog(Resources())
        services = Services.build(ctx, auth_none=True, check_action=actions.check)
        await services.tokens.load()
        limits = ExecutorLimits(slots=SLOTS, lease_seconds=5, kill_grace_seconds=1)
        executor = LocalExecutor(
            ctx, limits, tmp_path, "http://127.0.0.1:1", services.tokens, actions
        )
        ctx.executor = executor
        await executor.start()
        try:
            spec = TaskSpec.model_validate(
                {
                    "name": "brief",
                    "label": "brief",
                    "action": {"kind": "command", "argv": ["sleep", "0.02"]},
                    "concurrency": {"max_running": 100, "overlap": "allow"},
                }
            )
            await services.tasks.create(spec, CALLER)
            request = StartRequest(
                selectors=[parse_selector("brief")], origin="test", caller=CALLER
            )
            ids: list[str] = []

            async def client() -> None:
                # One start after the other: the starts' claims meet the dispatcher's, which
                # the ends of earlier runs wake.
                for _ in range(STARTS // CLIENTS):
                    result = await services.starts.start(request)
                    ids.append(result.executions[0].id)

            await asyncio.gather(*(client() for _ in range(CLIENTS)))
            ended = [await services.executions.wait(i, 60) for i in ids]
            assert [e.status for e, timed_out in ended] == [Status.FINISHED_SUCCESS] * STARTS
            full = [await services.executions.get(i) for i in ids]
            spans = [(a.started_at, a.finished_at) for e in full for a in e.attempts or []]
            assert all(end is not None for _, end in spans)
            assert most_at_once(spans) <= SLOTS  # type: ignore[arg-type]
        finally:
            await executor.stop()
            await db.close()

    asyncio.run(main())
