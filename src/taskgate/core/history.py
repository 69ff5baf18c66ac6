"""An execution's history (domain/history.py), read from the store: the one function the API
(`GET /api/v1/executions/{id}/events`) and the dashboard's execution page call."""

from __future__ import annotations

import dataclasses

from sqlalchemy import Connection

from taskgate.core.chains import ChainService
from taskgate.core.clock import utcnow
from taskgate.core.context import CoreContext
from taskgate.domain.errors import NotFound
from taskgate.domain.executions import Execution
from taskgate.domain.history import HistoryEvent, Records, history
from taskgate.domain.tasks import Task
from taskgate.store import executions as rows
from taskgate.store import history as records


class ExecutionHistory:
    def __init__(self, ctx: CoreContext, chains: ChainService) -> None:
        self.ctx = ctx
        self.chains = chains

    async def of(self, execution_id: str) -> list[HistoryEvent]:
        """What happened to the execution, oldest first: made (by whom, for which chain rule
        or workflow), each attempt's start and end, retries, an abort asked and by whom, its
        end and why, the checks it broke, the chain rules its end fired, its webhook
        deliveries; for a workflow, its members' status events too."""
        found, members, chained = await self.ctx.db.read(
            lambda conn: self._read(conn, execution_id)
        )
        if chained and found.execution.finished_at is not None:
            found = await self._with_firings(found)
        return history(found, members)

    def _read(self, conn: Connection, execution_id: str) -> tuple[Records, list[Records], bool]:
        """Its records, its members', and whether any chain rule exists (else no firings)."""
        execution = rows.get(conn, execution_id, with_attempts=True)
        if execution is None:
            raise NotFound(f"execution {execution_id!r} not found", field="execution")
        children = rows.children_of(conn, [execution.id])
        # The retry count is read (from the task's definition) only where a retry is told.
        retried = [e.id for e in (execution, *children) if _retried(e)]
        retries = records.retry_counts(conn, retried) if retried else {}
        # The run's last instant: what it caused is looked for up to then (and a little after).
        last = execution.finished_at or utcnow()
        abort = None
        if execution.aborted_by is not None:
            abort = records.abort_asked(conn, execution.id, execution.created_at, last)
        own = Records(
            execution=execution,
            retries=retries.get(execution.id),
            abort=abort,
            deliveries=tuple(records.deliveries_of(conn, execution.id)),
        )
        members = [Records(execution=c, retries=retries.get(c.id)) for c in children]
        return own, members, records.any_chain(conn)

    async def _with_firings(self, found: Records) -> Records:
        """The chain rules that the run's end fired (the rules whose conditions name its task,
        and of their firings those that name this run)."""
        execution: Execution = found.execution
        ended = execution.finished_at
        assert ended is not None
        spec = await self.ctx.db.read(lambda conn: rows.task_spec_of(conn, execution.id))
        try:
            task = Task.model_validate(spec)
        except ValueError:  # a definition an older version saved that no longer reads
            return found
        rules = (await self.chains.of_task(task)).fired_by_it
        if not rules:
            return found
        wanted = [(rule.id, rule.window) for rule in rules]
        firings = await self.ctx.db.read(
            lambda conn: records.firings_after(conn, execution.id, wanted, ended)
        )
        return dataclasses.replace(found, firings=tuple(firings))


def _retried(execution: Execution) -> bool:
    """Whether an attempt of it ended and another followed, or will."""
    ended = any(a.finished_at is not None for a in execution.attempts or [])
    return execution.attempt_count > 1 or (ended and not execution.status.is_terminal)
