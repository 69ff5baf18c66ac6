"""Background work of the server: periodic jobs and the stopping of tasks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def stop_task(task: asyncio.Task[None] | None) -> None:
    """Cancel a background task and wait until it has ended."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


class Periodic:
    """Runs `work` every `seconds` until stopped; a failure is logged and tried again next time."""

    def __init__(
        self, name: str, seconds: float, work: Callable[[], Awaitable[None]], *, at_start: bool
    ) -> None:
        self.name = name
        self.seconds = seconds
        self.work = work
        self.at_start = at_start
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=f"taskgate-{self.name}")

    async def stop(self) -> None:
        await stop_task(self._task)
        self._task = None

    async def _loop(self) -> None:
        if not self.at_start:
            await asyncio.sleep(self.seconds)
        while True:
            try:
                await self.work()
            except Exception:
                log.exception("%s failed; will try again in %gs", self.name, self.seconds)
            await asyncio.sleep(self.seconds)
