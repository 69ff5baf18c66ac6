"""`WorkflowService`: the one object the server builds for workflows. It moves them on
(advance.py: the end and abort hooks, each phase's start), reads their trees (tree.py) and
runs ad-hoc phases (adhoc.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from taskgate.core.context import CoreContext
from taskgate.core.endings import AfterCommit
from taskgate.core.executions import ExecutionService
from taskgate.core.starts.request import StartRequest
from taskgate.core.starts.service import StartService
from taskgate.core.workflows.adhoc import adhoc_task, check_members
from taskgate.core.workflows.advance import Advance
from taskgate.core.workflows.tree import read_tree
from taskgate.domain.events import ExecutionEvent
from taskgate.domain.executions import Caller, Execution
from taskgate.domain.selectors import Selector, SelectorKind
from taskgate.domain.workflows import MAX_DEPTH, WorkflowAction, WorkflowStarter


class WorkflowService(WorkflowStarter):
    """Starts workflows' phases and follows their members' ends (end and abort hooks)."""

    def __init__(self, ctx: CoreContext, starts: StartService, executions: ExecutionService):
        self.ctx = ctx
        self.starts = starts
        self.executions = executions
        # Registers its end and abort hooks on ctx.endings.
        self.advance = Advance(ctx, starts)

    def begin(self, conn: Connection, execution_id: str, after: AfterCommit) -> None:
        """Start the first phase, in the transaction that parks the workflow's execution."""
        self.advance.begin(conn, execution_id, after)

    # -- reading -------------------------------------------------------------------------
    async def tree(self, execution_id: str, depth: int = MAX_DEPTH) -> Execution:
        """One execution with its phases and its members, and theirs (a workflow's tree)."""
        return await self.ctx.db.read(lambda conn: read_tree(conn, execution_id, depth))

    # -- ad-hoc workflows ------------------------------------------------------------------
    async def run_phases(
        self,
        spec: WorkflowAction,
        params: dict[str, Any],
        caller: Caller,
        *,
        origin: str = "api",
        wait: float = 0,
    ) -> tuple[Execution, bool]:
        """Run phases given in the request as one workflow execution (no task is stored).
        Every member must name tasks the caller may start; InvalidInput naming the member
        otherwise. With `wait`, answers once the workflow ended or `wait` seconds passed
        (True)."""
        task = adhoc_task(spec)

        def work(conn: Connection) -> tuple[str, ExecutionEvent, Any]:
            check_members(conn, spec, caller)
            request = StartRequest(
                selectors=[Selector(SelectorKind.ID, task.key)],
                origin=origin,
                caller=caller,
                params=params,
            )
            ref, event = self.starts.write_one(conn, task, request)
            return ref.id, event, self.starts.claim_in(conn, True)

        execution_id, event, claimed = await self.ctx.db.write(work)
        self.ctx.bus.publish(event)
        self.starts.hand_over(claimed, started=True)
        timed_out = False
        if wait > 0:
            _, timed_out = await self.executions.wait(execution_id, wait)
        return await self.tree(execution_id), timed_out
