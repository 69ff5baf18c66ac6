"""The scheduler loop: fire what is due, then sleep until the next fire time or a change.

It never wakes every second for nothing. It wakes at the earliest stored fire time, at once
when this process changes a schedule (the service sets `changed`), and at the latest after
`recheck_seconds`: a schedule created or moved by another process on the same database is
noticed within that time (one indexed MIN() query per recheck).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from taskgate.core.background import stop_task
from taskgate.core.clock import utcnow
from taskgate.core.schedules.service import SchedulerService

log = logging.getLogger(__name__)
# Another process holds a due row for the few milliseconds of its firing: look again soon,
# without spinning on the database.
BUSY_RETRY_SECONDS = 0.01


class SchedulerLoop:
    def __init__(self, service: SchedulerService, *, recheck_seconds: float) -> None:
        self.service = service
        self.recheck_seconds = recheck_seconds
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="taskgate-scheduler")

    async def stop(self) -> None:
        await stop_task(self._task)
        self._task = None

    async def _run(self) -> None:
        changed = self.service.changed
        while True:
            changed.clear()
            delay = self.recheck_seconds
            try:
                due = await self.service.fire_due()
                if due is not None:
                    # Woken a hair early, sleep the rest; a due row still there is being
                    # fired by another process.
                    ahead = (due - utcnow()).total_seconds()
                    delay = min(delay, ahead if ahead > 0 else BUSY_RETRY_SECONDS)
            except Exception:
                log.exception("scheduler: firing failed; trying again in %gs", delay)
            if changed.is_set():
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), delay)
