"""A sequence's TASK steps on the server's side: start the task inside the transaction that
parks the sequence, and when that task ends, queue the sequence again with the outcome (an end
hook, in the transaction that writes the end). Aborting a parked sequence ends it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from taskgate.core.clock import utcnow
from taskgate.core.context import CoreContext
from taskgate.core.executions import ExecutionService
from taskgate.core.rowevents import event_of_row
from taskgate.core.starts.request import StartRequest
from taskgate.core.starts.resolve import resolve
from taskgate.core.starts.service import StartService
from taskgate.domain.endings import AfterCommit, Ended
from taskgate.domain.errors import TaskgateError
from taskgate.domain.executions import Caller
from taskgate.domain.selectors import parse_selector
from taskgate.domain.status import EndReason, Status
from taskgate.engine.actions.sequence_tasks import STATE_KEY, TaskStart, TaskSteps
from taskgate.store import executions as rows
from taskgate.store.tables import executions as executions_table

ORIGIN = "sequence"


class SequenceTasks:
    def __init__(self, ctx: CoreContext) -> None:
        self.ctx = ctx
        self.starts: StartService | None = None  # set once the services are built
        self.executions: ExecutionService | None = None
        self._aborts: set[asyncio.Task[object]] = set()

    def contract(self) -> TaskSteps:
        return TaskSteps(start=self.start, saved=self.saved)

    def register(self, starts: StartService, executions: ExecutionService) -> None:
        self.starts = starts
        self.executions = executions
        self.ctx.endings.add(self.on_end)
        self.ctx.endings.add_abort(self.on_abort)

    async def saved(self, execution_id: str) -> dict[str, Any] | None:
        def work(conn: Connection) -> dict[str, Any] | None:
            row = rows.get_row(conn, execution_id)
            state = row.state if row is not None else None
            found = state.get(STATE_KEY) if isinstance(state, dict) else None
            return found if isinstance(found, dict) else None

        return await self.ctx.db.read(work)

    def start(self, conn: Connection, after: AfterCommit, step: TaskStart) -> None:
        assert self.starts is not None
        parent = rows.get_row(conn, step.parent_id)
        assert parent is not None
        caller = Caller(f"sequence:{step.parent_id}", scope="system")
        try:
            selector = parse_selector(step.selector)
            ((resolution, tasks),) = resolve(conn, [selector], caller)
            if not tasks:
                raise TaskgateError(resolution.message or f"no task is {step.selector!r}")
            if len(tasks) > 1:
                raise TaskgateError(f"{step.selector!r} names {len(tasks)} tasks: name one")
            if tasks[0].key == parent.task_id:
                raise TaskgateError("a sequence may not start itself")
            request = StartRequest(
                [parse_selector(f"id:{tasks[0].key}")],
                origin=ORIGIN,
                caller=caller,
                params=step.params,
                parent_id=step.parent_id,
            )
            pending = self.starts.start_in(conn, request)
            if not pending.result.executions:
                reasons = [t.reason for r in pending.result.results for t in r.tasks if t.reason]
                raise TaskgateError("; ".join(reasons) or "the task did not start")
        except TaskgateError as exc:
            outcome = {"execution_id": None, "status": "not_started", "message": exc.message}
            self._requeue(conn, after, step.parent_id, outcome)
            return
        # Remember what it waits for, so that aborting the sequence aborts the task too.
        waiting = dict(parent.state or {})
        waiting[STATE_KEY] = {**waiting[STATE_KEY], "waiting_for": pending.result.executions[0].id}
        rows.update(conn, step.parent_id, state=waiting)
        starts = self.starts
        after.then(lambda: starts.after_commit(pending))

    def on_end(self, conn: Connection, ended: Ended, after: AfterCommit) -> Sequence[Ended]:
        if ended.parent_id is None:
            return []
        child = rows.get(conn, ended.execution_id, with_attempts=False)
        outcome = {
            "execution_id": ended.execution_id,
            "status": ended.status.value,
            "result": child.result if child is not None else None,
            "message": child.message if child is not None else "",
        }
        self._requeue(conn, after, ended.parent_id, outcome)
        return []

    def on_abort(self, conn: Connection, execution_id: str, after: AfterCommit) -> Sequence[Ended]:
        row = rows.get_row(conn, execution_id, lock=True)
        if row is None or not row.parked or not _ours(row.state):
            return []
        now = utcnow()
        saved = row.state[STATE_KEY]
        message = "aborted while waiting for a TASK step"
        if not rows.end_parked(
            conn,
            execution_id,
            status=Status.ABORTED,
            at=now,
            message=message,
            result=saved.get("shown"),
        ):
            return []
        after.publish(
            event_of_row(
                row,
                Status.ABORTED,
                now,
                message=message,
                started_at=row.started_at,
                end_reason=EndReason.ABORTED.value,
            )
        )
        child = saved.get("waiting_for")
        if isinstance(child, str) and self.executions is not None:
            executions = self.executions
            caller = Caller(f"sequence:{execution_id}", scope="system")

            def abort_child() -> None:
                # After the commit, on the server's loop: the task is aborted as any other.
                work = asyncio.get_running_loop().create_task(executions.abort(child, caller))
                self._aborts.add(work)  # the loop keeps only weak references to tasks
                work.add_done_callback(self._aborts.discard)

            after.then(abort_child)
        return [Ended(execution_id, row.task_id, Status.ABORTED, now, row.origin, row.parent_id)]

    def _requeue(
        self, conn: Connection, after: AfterCommit, parent_id: str, outcome: dict[str, Any]
    ) -> None:
        """Put a parked sequence back in the queue, the TASK step's outcome in its state."""
        row = rows.get_row(conn, parent_id, lock=True)
        if row is None or not row.parked or not _ours(row.state):
            return  # not a sequence waiting (a workflow's member, or aborted meanwhile)
        state = dict(row.state)
        state[STATE_KEY] = {**state[STATE_KEY], "child": outcome}
        moved = conn.execute(
            executions_table.update()
            .where(executions_table.c.id == parent_id, executions_table.c.parked.is_(True))
            .values(
                status=Status.QUEUED.value,
                parked=False,
                state=state,
                instance=None,
                lease_until=None,
            )
        )
        if not moved.rowcount:
            return
        now = utcnow()
        for attempt in rows.open_attempts(conn, parent_id):
            rows.finish_attempt(
                conn,
                parent_id,
                attempt.number,
                status=Status.FINISHED_SUCCESS.value,
                finished_at=now,
                message=f"waited for a TASK step ({outcome['status']})",
            )
        after.then(self.ctx.notify_executor)


def _ours(state: Any) -> bool:
    return isinstance(state, dict) and isinstance(state.get(STATE_KEY), dict)
