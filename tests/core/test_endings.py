"""End hooks run in the transaction that writes an execution's end: whatever they write is
committed with it, and what they leave for after the commit runs once it has committed."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import sqlalchemy as sa
from sqlalchemy import Connection

from taskgate.core.context import CoreContext
from taskgate.core.endings import AfterCommit, Ended, Endings
from taskgate.core.events import EventBus
from taskgate.core.services import Services
from taskgate.core.starts.request import StartRequest
from taskgate.domain.executions import Caller
from taskgate.domain.selectors import parse_selector
from taskgate.domain.status import Status
from taskgate.domain.tasks import TaskSpec
from taskgate.engine.actions import ActionCatalog
from taskgate.engine.local import ExecutorLimits, LocalExecutor
from taskgate.store.db import Database
from tests.conftest import Backend

CALLER = Caller("t", scope="t")


class Recorder:
    """A hook that writes a row in the ending transaction and notes what ran after it."""

    def __init__(self) -> None:
        self.after: list[str] = []

    def __call__(self, conn: Connection, end: Ended, after: AfterCommit) -> Sequence[Ended]:
        conn.execute(
            sa.text("INSERT INTO endings_seen (execution_id, status) VALUES (:i, :s)"),
            {"i": end.execution_id, "s": end.status.value},
        )
        after.then(lambda: self.after.append(end.execution_id))
        return []


def run(backend: Backend, tmp_path: Path, scenario: object) -> None:
    db = Database(backend.new_database(tmp_path) or f"sqlite:///{tmp_path / 'db.sqlite'}")

    async def main() -> None:
        await db.migrate()
        await db.write(
            lambda c: c.execute(
                sa.text("CREATE TABLE endings_seen (execution_id text, status text)")
            )
        )
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
        recorder = Recorder()
        ctx.endings.add(recorder)
        await executor.start()
        try:
            await scenario(services, recorder)  # type: ignore[operator]
        finally:
            await executor.stop()
            await db.close()

    asyncio.run(main())


async def seen(services: Services) -> list[tuple[str, str]]:
    rows = await services.ctx.db.read(
        lambda c: list(c.execute(sa.text("SELECT execution_id, status FROM endings_seen")))
    )
    return [(r[0], r[1]) for r in rows]


async def make(services: Services, label: str, argv: list[str]) -> None:
    spec = TaskSpec.model_validate(
        {"name": label, "label": label, "action": {"kind": "command", "argv": argv}}
    )
    await services.tasks.create(spec, CALLER)


def start(label: str) -> StartRequest:
    return StartRequest(selectors=[parse_selector(f"label:{label}")], origin="test", caller=CALLER)


def test_a_run_that_ends_fires_the_hooks_once(backend: Backend, tmp_path: Path) -> None:
    async def scenario(services: Services, recorder: Recorder) -> None:
        await make(services, "ok", ["true"])
        await make(services, "bad", ["false"])
        ok = (await services.starts.start(start("ok"))).executions[0].id
        bad = (await services.starts.start(start("bad"))).executions[0].id
        for execution_id in (ok, bad):
            await services.executions.wait(execution_id, 30)
        # The hook's row was committed with the end, and its after-commit work ran once.
        assert sorted(await seen(services)) == sorted(
            [(ok, Status.FINISHED_SUCCESS.value), (bad, Status.FINISHED_FAIL.value)]
        )
        assert sorted(recorder.after) == sorted([ok, bad])

    run(backend, tmp_path, scenario)


def test_an_abort_before_the_start_fires_the_hooks(backend: Backend, tmp_path: Path) -> None:
    async def scenario(services: Services, recorder: Recorder) -> None:
        await make(services, "later", ["true"])
        spec = TaskSpec.model_validate(
            {
                "name": "blocker",
                "label": "blocker",
                "action": {"kind": "command", "argv": ["sleep", "30"]},
            }
        )
        await services.tasks.create(spec, CALLER)
        # The blocker's task runs one at a time: its second start waits in the queue.
        blocking = (await services.starts.start(start("blocker"))).executions[0].id
        waiting = (await services.starts.start(start("blocker"))).executions[0].id
        await services.executions.abort(waiting, CALLER)
        assert await seen(services) == [(waiting, Status.ABORTED.value)]
        assert recorder.after == [waiting]
        await services.executions.abort(blocking, CALLER)
        await services.executions.wait(blocking, 30)
        assert (blocking, Status.ABORTED.value) in await seen(services)

    run(backend, tmp_path, scenario)


def test_ends_that_cause_ends_are_fired_in_turn() -> None:
    endings = Endings()
    fired: list[str] = []
    now = datetime.now(UTC)

    def parent_of_child(conn: Connection, end: Ended, after: AfterCommit) -> Sequence[Ended]:
        fired.append(end.execution_id)
        if end.parent_id:
            return [Ended(end.parent_id, "t", Status.FINISHED_SUCCESS, now, "workflow")]
        return []

    endings.add(parent_of_child)
    no_store = cast(Connection, None)  # these hooks write nothing
    endings.fire(
        no_store, [Ended("child", "t", Status.FINISHED_SUCCESS, now, "x", "parent")], AfterCommit()
    )
    assert fired == ["child", "parent"]
