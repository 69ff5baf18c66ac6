"""What a task's checks stand at: its learned duration band and its deadline."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection

from taskgate.core.checks import deadlines
from taskgate.core.checks.judging import CHECK_FAILED
from taskgate.core.context import CoreContext
from taskgate.domain.checks import Checks
from taskgate.domain.errors import NotFound
from taskgate.domain.executions import Execution
from taskgate.store import deadlines as deadline_rows
from taskgate.store import durations
from taskgate.store import executions as execution_rows
from taskgate.store import tasks as task_rows


class LearnedView(BaseModel):
    """The band `expected_duration: learn` judges by (median ± k * MAD, with its floor)."""

    runs: int
    min_runs: int
    learning: bool  # fewer than min_runs successful runs so far: nothing is judged yet
    median_seconds: float | None = None
    mad_seconds: float | None = None
    low_seconds: float | None = None
    high_seconds: float | None = None


class DeadlineView(BaseModel):
    next_due: datetime | None
    last_due: datetime | None
    last_outcome: str | None
    last_message: str


class ChecksView(BaseModel):
    task_id: str
    task_name: str
    checks: Checks | None
    expected_duration: LearnedView | None = None
    deadline: DeadlineView | None = None


class MissedDeadline(BaseModel):
    task_id: str
    task_name: str
    due: datetime
    message: str


class RecentViolations(BaseModel):
    """What broke a check since a moment: runs (failed by a check, or warned) and deadlines."""

    runs: list[Execution]
    deadlines: list[MissedDeadline]


class CheckService:
    def __init__(self, ctx: CoreContext) -> None:
        self.ctx = ctx

    async def recent(self, since: datetime, limit: int) -> RecentViolations:
        """Runs that ended since `since` having broken a check (up to `limit`, the latest
        first) and the deadlines missed since then."""

        def work(conn: Connection) -> RecentViolations:
            runs = execution_rows.broke_checks(conn, since, CHECK_FAILED, limit)
            missed = [
                MissedDeadline(
                    task_id=r.task_id, task_name=r.task_name, due=r.last_due, message=r.last_message
                )
                for r in deadline_rows.missed_since(conn, since)
            ]
            return RecentViolations(runs=runs, deadlines=missed)

        return await self.ctx.db.read(work)

    async def view(self, ref: str) -> ChecksView:
        return await self.ctx.db.read(lambda conn: _view(conn, ref))


def _view(conn: Connection, ref: str) -> ChecksView:
    task = task_rows.get(conn, ref)
    if task is None:
        raise NotFound.named("task", ref)
    view = ChecksView(task_id=task.key, task_name=task.name, checks=task.checks)
    learned = task.checks.expected_duration if task.checks is not None else None
    if learned is not None:
        history = durations.recent_successes(conn, task.key, learned.window)
        band = learned.band(history)
        numbers: dict[str, Any] = {} if band is None else band.to_json()
        numbers.pop("runs", None)
        view.expected_duration = LearnedView(
            runs=len(history), min_runs=learned.min_runs, learning=band is None, **numbers
        )
    state = deadlines.state(conn, task.key)
    if state is not None:
        view.deadline = DeadlineView.model_validate(state)
    return view
