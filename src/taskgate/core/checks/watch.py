"""The watch: announces what happens to runs by the clock rather than by an end - a run that
passes its max_duration while it still runs, a deadline by which a task had not succeeded.

Each announcement is written (the overrun marked, the deadline moved on) in the transaction
that finds it, with a condition only one server can meet, and published after the commit: so
it is said once, however many servers share the database. The loop sleeps until the next
moment it knows of, and looks again at least every `recheck_seconds` for ones made since
(a run claimed on another server, a task saved there).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row

from taskgate.core.background import stop_task
from taskgate.core.checks import deadlines
from taskgate.core.checks.judging import limits_while_running
from taskgate.core.checks.news import violation_event
from taskgate.core.clock import utcnow
from taskgate.core.context import CoreContext
from taskgate.core.rowevents import event_of_row
from taskgate.domain.events import MAX_DURATION_PASSED, ExecutionEvent
from taskgate.domain.status import Status
from taskgate.domain.tasks import Task
from taskgate.store import overruns

log = logging.getLogger(__name__)
BATCH = 100
RECHECK_SECONDS = 1.0
# Woken a hair early, or a row another server is announcing: look again soon, not at once.
BUSY_RETRY_SECONDS = 0.01


class CheckWatch:
    def __init__(self, ctx: CoreContext, recheck_seconds: float = RECHECK_SECONDS) -> None:
        self.ctx = ctx
        self.recheck_seconds = recheck_seconds
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="taskgate-check-watch")

    async def stop(self) -> None:
        await stop_task(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            delay = self.recheck_seconds
            try:
                next_at = await self.tick()
                if next_at is not None:
                    ahead = (next_at - utcnow()).total_seconds()
                    delay = min(delay, max(ahead, BUSY_RETRY_SECONDS))
            except Exception:
                log.exception("check watch failed; trying again in %gs", delay)
            await asyncio.sleep(delay)

    async def tick(self) -> datetime | None:
        """Announce everything due now; the next moment something will be due (or None)."""
        moments = [await self._drain(self._overruns), await self._drain(self._deadlines)]
        known = [moment for moment in moments if moment is not None]
        return min(known) if known else None

    async def _drain(
        self, work: Callable[[Connection], tuple[list[ExecutionEvent], datetime | None, bool]]
    ) -> datetime | None:
        while True:
            events, next_at, full = await self.ctx.db.write(work)
            for event in events:
                self.ctx.bus.publish(event)
            if not full:
                return next_at

    def _deadlines(self, conn: Connection) -> tuple[list[ExecutionEvent], datetime | None, bool]:
        events, full = deadlines.fire_due(conn, utcnow(), BATCH)
        return events, deadlines.next_due(conn), full

    def _overruns(self, conn: Connection) -> tuple[list[ExecutionEvent], datetime | None, bool]:
        now = utcnow()
        found = overruns.due(conn, now, BATCH)
        events: list[ExecutionEvent] = []
        for row in found:
            events.extend(_overrun(conn, row, now))
        return events, overruns.next_due(conn), len(found) == BATCH


def _overrun(conn: Connection, row: Row[Any], now: datetime) -> list[ExecutionEvent]:
    """Announce the running limits this attempt has passed; look again at the next one."""
    task = Task.model_validate(row.task_spec)
    due_at: datetime = row.overrun_at
    warnings = list(row.warnings or [])
    number = row.attempt_count
    started = overruns.attempt_started(conn, row.id, number) or row.started_at or due_at
    elapsed = (now - started).total_seconds()
    said = {w.get("check") for w in warnings if w.get("attempt") == number}
    limits = [
        limit
        for limit in limits_while_running(conn, task.key, task.checks)
        if limit.check not in said
    ]
    # The watch wakes at the limit or after it; a millisecond spares the clock's rounding.
    passed = [limit.passed(elapsed) for limit in limits if elapsed + 0.001 >= limit.seconds]
    ahead = [limit.seconds for limit in limits if elapsed + 0.001 < limit.seconds]
    next_at = started + timedelta(seconds=ahead[0]) if ahead else None
    notes = [
        {**v.to_json(), "while_running": True, "attempt": number, "at": now.isoformat()}
        for v in passed
    ]
    if not overruns.announce(conn, row.id, due_at, [*warnings, *notes], next_at):
        return []  # another server announced it
    status_event = event_of_row(row, Status(row.status), now, task=task, started_at=started)
    return [
        dataclasses.replace(violation_event(status_event, v, MAX_DURATION_PASSED), at=now)
        for v in passed
    ]
