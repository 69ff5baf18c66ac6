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

from taskgate.core.endings import AfterCommit, Ended, Endings
from taskgate.core.services import Services
from taskgate.domain.status import Status
from tests.conftest import Backend
from tests.core_support import CALLER, make_task, request, running_core


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
    async def main() -> None:
        async with running_core(backend, tmp_path) as services:
            await services.ctx.db.write(
                lambda c: c.execute(
                    sa.text("CREATE TABLE endings_seen (execution_id text, status text)")
                )
            )
            recorder = Recorder()
            services.ctx.endings.add(recorder)
            await scenario(services, recorder)  # type: ignore[operator]

    asyncio.run(main())


async def seen(services: Services) -> list[tuple[str, str]]:
    rows = await services.ctx.db.read(
        lambda c: list(c.execute(sa.text("SELECT execution_id, status FROM endings_seen")))
    )
    return [(r[0], r[1]) for r in rows]


def test_a_run_that_ends_fires_the_hooks_once(backend: Backend, tmp_path: Path) -> None:
    async def scenario(services: Services, recorder: Recorder) -> None:
        await make_task(services, "ok", ["true"])
        await make_task(services, "bad", ["false"])
        ok = (await services.starts.start(request("label:ok"))).executions[0].id
        bad = (await services.starts.start(request("label:bad"))).executions[0].id
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
        await make_task(services, "later", ["true"])
        await make_task(services, "blocker", ["sleep", "30"])
        # The blocker's task runs one at a time: its second start waits in the queue.
        blocking = (await services.starts.start(request("label:blocker"))).executions[0].id
        waiting = (await services.starts.start(request("label:blocker"))).executions[0].id
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
