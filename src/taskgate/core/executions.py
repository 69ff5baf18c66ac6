"""Reading, waiting for and aborting executions."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from taskgate.core.clock import utcnow
from taskgate.core.context import CoreContext
from taskgate.core.endings import AfterCommit, Ended
from taskgate.core.rowevents import event_of_row, row_event
from taskgate.domain.errors import NotFound
from taskgate.domain.events import ExecutionEvent
from taskgate.domain.executions import Caller, Execution
from taskgate.domain.status import ACTIVE, PENDING, EndReason, Status
from taskgate.store import audit
from taskgate.store import executions as rows
from taskgate.store import tasks as task_rows
from taskgate.store.executions import ExecutionFilter


@dataclass(frozen=True)
class LogSlice:
    offset: int
    next_offset: int
    data: str
    complete: bool


class ExecutionService:
    def __init__(self, ctx: CoreContext) -> None:
        self.ctx = ctx

    async def get(self, execution_id: str, *, with_attempts: bool = True) -> Execution:
        execution = await self.ctx.db.read(
            lambda conn: rows.get(conn, execution_id, with_attempts=with_attempts)
        )
        if execution is None:
            raise NotFound.named("execution", execution_id)
        return execution

    async def listing(
        self,
        *,
        task: str | None,
        statuses: tuple[Status, ...],
        origin: str | None,
        since: datetime | None = None,
        until: datetime | None = None,
        caller: str | None = None,
        limit: int,
        cursor: str | None,
    ) -> tuple[list[Execution], str | None]:
        """Newest first; `caller` is the name an execution records of who started it (a
        key's name, `chain:<id>`, `schedule:<id>` ...)."""

        def work(conn: Connection) -> tuple[list[Execution], str | None]:
            task_id = None
            if task is not None:
                found = task_rows.get(conn, task)
                # Executions outlive their task, so an unknown ref may still be a former id.
                task_id = found.key if found else task.lower()
            flt = ExecutionFilter(
                task_id=task_id,
                statuses=statuses,
                origin=origin,
                since=since,
                until=until,
                caller=caller,
            )
            return rows.listing(conn, flt, limit=limit, cursor=cursor)

        return await self.ctx.db.read(work)

    async def get_many(self, execution_ids: Iterable[str]) -> list[Execution]:
        """These executions with their attempts, newest first; unknown ids are left out."""
        wanted = list(execution_ids)
        return await self.ctx.db.read(lambda conn: rows.get_many(conn, wanted))

    async def recent(self, *, task_id: str | None = None, limit: int) -> list[Execution]:
        """The newest executions, of one task or of all, with their attempts."""
        return await self.ctx.db.read(lambda conn: rows.recent(conn, task_id=task_id, limit=limit))

    async def unfinished(self) -> list[Execution]:
        """Every execution waiting, running or being aborted, oldest first, with attempts."""
        return await self.ctx.db.read(rows.unfinished)

    async def latest_for_tasks(self, task_ids: Iterable[str]) -> dict[str, Execution]:
        wanted = list(task_ids)
        return await self.ctx.db.read(lambda conn: rows.latest_for_tasks(conn, wanted))

    async def wait(self, execution_id: str, timeout: float) -> tuple[Execution, bool]:
        """The execution once it has ended, or as it is when `timeout` passes (True)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            future = self.ctx.bus.ended(execution_id)
            try:
                execution = await self.get(execution_id)
                if execution.status.is_terminal:
                    return execution, False
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return execution, True
                # The store is read again now and then: for executions run by another process
                # whose events do not reach this bus (no relay, or one that is cut off).
                recheck = self.ctx.bus.store_recheck_seconds
                await asyncio.wait({future}, timeout=min(remaining, recheck))
            finally:
                self.ctx.bus.forget(execution_id, future)

    async def end_event(self, execution_id: str) -> ExecutionEvent | None:
        """The event of the execution's end, rebuilt from the store; None while it has not
        ended (or is unknown). For a part that may have missed the event itself."""
        row = await self.ctx.db.read(lambda conn: rows.get_row(conn, execution_id))
        if row is None or not Status(row.status).is_terminal:
            return None
        return row_event(row, Status(row.status), row.finished_at or utcnow())

    async def abort(self, execution_id: str, caller: Caller) -> Execution:
        """The execution as this request left it (`abort_initiated` for a run that is being
        stopped), not as the executor may already have ended it by the time of the answer."""
        after = AfterCommit()

        def work(conn: Connection) -> tuple[ExecutionEvent | None, Execution | None]:
            asked = _request_abort(conn, execution_id, caller)
            if asked is None:
                return None, rows.get(conn, execution_id, with_attempts=True)
            event, parent_id = asked
            if event.status is Status.ABORTED:
                end = Ended(
                    execution_id, event.task_id, event.status, event.at, event.origin, parent_id
                )
                self.ctx.endings.fire(conn, [end], after)
            else:
                self.ctx.endings.fire_abort(conn, execution_id, after)
            return event, rows.get(conn, execution_id, with_attempts=True)

        event, execution = await self.ctx.db.write(work)
        if execution is None:
            raise NotFound.named("execution", execution_id)
        if event is not None:
            self.ctx.bus.publish(event)
            after.run(self.ctx.bus)
            if event.status is Status.ABORT_INITIATED and not (
                self.ctx.executor and self.ctx.executor.abort_local(execution_id)
            ):
                self.ctx.notify_executor()
        return execution

    async def abort_tasks(self, task_refs: Iterable[str], caller: Caller) -> list[Execution]:
        """Stop tasks: abort every waiting or running execution of each (id or label).

        An unknown task is NotFound before anything is aborted. What was aborted, as it is now.
        """
        refs = list(task_refs)

        def unfinished(conn: Connection) -> list[str]:
            task_ids: list[str] = []
            for ref in refs:
                task = task_rows.get(conn, ref)
                if task is None:
                    raise NotFound.named("task", ref)
                task_ids.append(task.key)
            return rows.unfinished_ids(conn, task_ids)

        return [await self.abort(i, caller) for i in await self.ctx.db.read(unfinished)]

    async def counts(self, statuses: Iterable[Status]) -> dict[str, int]:
        """How many executions are in each of these statuses now."""
        wanted = list(statuses)
        return await self.ctx.db.read(lambda conn: rows.count_by_status(conn, wanted))

    async def read_log(self, execution_id: str, offset: int, limit: int) -> LogSlice:
        def work(conn: Connection) -> tuple[Any, str, int]:
            row = rows.get_row(conn, execution_id)
            if row is None:
                raise NotFound.named("execution", execution_id)
            return row, *rows.read_log(conn, execution_id, offset, limit)

        row, data, next_offset = await self.ctx.db.read(work)
        ended = Status(row.status).is_terminal and Status(row.status) not in ACTIVE
        complete = ended and next_offset >= row.log_size
        return LogSlice(offset, next_offset, data, complete)


def _request_abort(
    conn: Connection, execution_id: str, caller: Caller
) -> tuple[ExecutionEvent, str | None] | None:
    """Abort at once what has not started; ask the executor to stop what runs. The event,
    and the execution's parent (a workflow), if it has one."""
    now = utcnow()
    # Locked: a dispatcher's claim of this execution in flight (PostgreSQL) commits first, so
    # a run just moved to `started` is asked to stop, not ended as if it had never started.
    row = rows.get_row(conn, execution_id, lock=True)
    if row is None:
        raise NotFound.named("execution", execution_id)
    status = Status(row.status)
    if status in PENDING:
        rows.update(
            conn,
            execution_id,
            status=Status.ABORTED.value,
            finished_at=now,
            message=f"aborted by {caller.name} before it started",
            end_reason=EndReason.ABORTED.value,
            aborted_by=caller.name,
        )
        event = event_of_row(
            row,
            Status.ABORTED,
            now,
            message="aborted before it started",
            end_reason=EndReason.ABORTED.value,
        )
    elif status is Status.STARTED:
        rows.update(
            conn,
            execution_id,
            status=Status.ABORT_INITIATED.value,
            message=f"abort requested by {caller.name}",
            aborted_by=caller.name,
        )
        event = event_of_row(row, Status.ABORT_INITIATED, now, started_at=row.started_at)
    else:
        return None
    audit.record(
        conn,
        at=now,
        actor=caller.name,
        action="abort",
        target=execution_id,
        details={"from": status.value},
    )
    return event, row.parent_id
