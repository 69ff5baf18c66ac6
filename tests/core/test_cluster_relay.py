"""The event relay between two servers' buses on one real PostgreSQL database (in one
process here: two contexts, each with its own bus, relay and connections)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from taskgate.core.cluster import EventRelay, relay_for
from taskgate.core.context import CoreContext
from taskgate.core.events import EventBus
from taskgate.core.services import Services
from taskgate.core.starts.request import StartRequest
from taskgate.core.subscription import Subscription
from taskgate.domain.events import ExecutionEvent
from taskgate.domain.executions import Caller
from taskgate.domain.selectors import parse_selector
from taskgate.domain.status import Status
from taskgate.domain.tasks import TaskSpec
from taskgate.store.db import Database
from tests.conftest import Backend

pytestmark = pytest.mark.parametrize("backend", ["postgres"], indirect=True)
CALLER = Caller("t", scope="t")
Check = Callable[[Services, EventRelay, EventRelay], Awaitable[None]]


@asynccontextmanager
async def node(url: str, name: str) -> AsyncIterator[tuple[Services, EventRelay]]:
    db = Database(url)
    ctx = CoreContext(db=db, bus=EventBus(), node=name)
    relay = relay_for(ctx, recheck_seconds=30)
    await relay.start()
    try:
        yield Services.build(ctx, auth_none=True), relay
    finally:
        await relay.stop()
        await db.close()


def run_pair(backend: Backend, tmp_path: Path, check: Check) -> None:
    url = backend.new_database(tmp_path)
    assert url is not None

    async def main() -> None:
        migrator = Database(url)
        await migrator.migrate()
        await migrator.close()
        async with node(url, "n1") as (one, relay_one), node(url, "n2") as (_, relay_two):
            await check(one, relay_one, relay_two)

    asyncio.run(main())


async def next_event(events: Subscription) -> ExecutionEvent:
    return await asyncio.wait_for(events.get(), 15)


def test_an_event_reaches_the_other_bus_once_and_not_its_own_twice(
    backend: Backend, tmp_path: Path
) -> None:
    async def check(one: Services, relay_one: EventRelay, relay_two: EventRelay) -> None:
        counted: list[ExecutionEvent] = []
        relay_two.ctx.bus.listen(counted.append)
        spec = TaskSpec.model_validate(
            {"name": "t", "label": "t", "action": {"kind": "command", "argv": ["true"]}}
        )
        await one.tasks.create(spec, CALLER)
        async with relay_one.ctx.bus.subscribe() as here, relay_two.ctx.bus.subscribe() as there:
            result = await one.starts.start(
                StartRequest(selectors=[parse_selector("label:t")], origin="test", caller=CALLER)
            )
            execution_id = result.executions[0].id
            mine = await next_event(here)
            theirs = await next_event(there)
            assert (mine.execution_id, mine.status, mine.remote) == (
                execution_id,
                Status.QUEUED,
                False,
            )
            assert dataclasses.replace(theirs, seq=0, remote=False) == dataclasses.replace(
                mine, seq=0
            )
            assert theirs.remote
            # Too long for one notification: sent as its id, read back from the store.
            long = dataclasses.replace(mine, status=Status.ABORTED, message="x" * 9000)
            relay_one.ctx.bus.publish(long)
            assert (await next_event(here)).message == long.message
            read = await next_event(there)
            assert (read.execution_id, read.status, read.remote) == (
                execution_id,
                Status.ABORTED,
                True,
            )
            assert read.task_name == "t" and read.message != long.message
            # A notification delivered again (a batch resent after a failure) is dropped.
            again = relay_one._payload(1, mine)
            await relay_two._receive(again)
            await relay_two._receive(json.dumps({**json.loads(again), "n": 1000}))
            assert (await next_event(there)).execution_id == execution_id
            assert there.ready() == [] and here.ready() == []
        # Listeners (webhook recording, metrics) hear only their own server's events.
        assert counted == []

    run_pair(backend, tmp_path, check)


def test_after_a_gap_waiters_and_followers_read_the_store_again(
    backend: Backend, tmp_path: Path
) -> None:
    async def check(one: Services, relay_one: EventRelay, relay_two: EventRelay) -> None:
        spec = TaskSpec.model_validate(
            {"name": "g", "label": "g", "action": {"kind": "command", "argv": ["true"]}}
        )
        await one.tasks.create(spec, CALLER)
        result = await one.starts.start(
            StartRequest(selectors=[parse_selector("label:g")], origin="test", caller=CALLER)
        )
        execution_id = result.executions[0].id
        assert await one.executions.end_event(execution_id) is None  # queued: no end yet
        gaps: list[str] = []
        bus = relay_two.ctx.bus
        bus.on_gap(lambda: gaps.append("gap"))
        waiting = bus.ended(execution_id)
        # The listener comes back after a loss: what went by meanwhile is looked for.
        await relay_two._connected(True)
        assert gaps == ["gap"]
        assert waiting.done() and waiting.result() is None
        await one.executions.abort(execution_id, CALLER)
        ended = await one.executions.end_event(execution_id)
        assert ended is not None
        assert (ended.execution_id, ended.status, ended.task_name) == (
            execution_id,
            Status.ABORTED,
            "g",
        )

    run_pair(backend, tmp_path, check)
