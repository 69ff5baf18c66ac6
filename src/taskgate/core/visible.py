"""Executions (and schedules) as a caller narrowed to some tasks may see them: only those of
its tasks.

A door that hands out execution ids and lets callers look them up (the Jaseci door's queue
check and wait) asks here, so a key with an allow-list cannot read another task's result by
guessing or being given its id. An execution the caller may not see is "not found", the same
answer as one that does not exist.
"""

from __future__ import annotations

from sqlalchemy import Connection

from taskgate.core.context import CoreContext
from taskgate.core.executions import ExecutionService
from taskgate.domain.allowlist import allows
from taskgate.domain.errors import NotFound
from taskgate.domain.executions import Caller, Execution
from taskgate.store import tasks as task_rows


class VisibleExecutions:
    def __init__(self, ctx: CoreContext, executions: ExecutionService) -> None:
        self.ctx = ctx
        self.executions = executions

    async def get(self, execution_id: str, caller: Caller) -> Execution:
        execution = await self.executions.get(execution_id, with_attempts=False)
        await self._check(execution, caller)
        return execution

    async def wait(
        self, execution_id: str, caller: Caller, timeout: float
    ) -> tuple[Execution, bool]:
        """The execution once ended, or as it is after `timeout` (True)."""
        first = await self.get(execution_id, caller)
        if first.status.is_terminal:
            return first, False
        return await self.executions.wait(execution_id, timeout)

    async def unfinished(self, caller: Caller) -> list[Execution]:
        found = await self.executions.unfinished()
        if caller.allowed_tasks is None:
            return found
        seen = await self.allowed_task_ids({e.task_id for e in found}, caller)
        return [e for e in found if e.task_id in seen]

    async def _check(self, execution: Execution, caller: Caller) -> None:
        if caller.allowed_tasks is None:
            return
        if execution.task_id not in await self.allowed_task_ids({execution.task_id}, caller):
            raise NotFound(f"execution {execution.id!r} not found", field="task_id")

    async def allowed_task_ids(self, task_ids: set[str], caller: Caller) -> set[str]:
        """Those of `task_ids` whose tasks the caller's allow-list lets in (all without one)."""
        if caller.allowed_tasks is None:
            return set(task_ids)

        def work(conn: Connection) -> set[str]:
            allowed = set()
            for task_id in task_ids:
                task = task_rows.get(conn, task_id)
                if task is not None and allows(caller.allowed_tasks, task):
                    allowed.add(task_id)
            return allowed

        return await self.ctx.db.read(work)
