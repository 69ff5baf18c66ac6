"""A sequence run's time and abort: one deadline for the whole run (across the attempts a
TASK step splits it into), and the abort event, checked before each step and raced against
each request and each pause."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import TypeVar

from taskgate.domain.status import EndReason, Status
from taskgate.engine.actions.abortable import unless_aborted

T = TypeVar("T")


class Stopped(Exception):
    """The whole run stops now (aborted, out of time): no step handles it."""

    def __init__(self, status: Status, message: str, reason: EndReason | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason


class RunClock:
    """The run's deadline (`ends_at`, wall-clock seconds, followed on the monotonic clock)
    and its abort event; `limit` is the run's time limit, named when it runs out."""

    def __init__(self, abort: asyncio.Event, limit: float, ends_at: float) -> None:
        self.abort = abort
        self.limit = limit
        self.deadline = time.monotonic() + (ends_at - time.time())

    def remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise self.timed_out()
        return left

    def check(self) -> None:
        """Stopped when the run was aborted or its time is up."""
        if self.abort.is_set():
            raise Stopped(Status.ABORTED, "aborted")
        self.remaining()

    def timed_out(self) -> Stopped:
        return Stopped(
            Status.ERROR, f"the sequence timed out after {self.limit:g}s", EndReason.TIMEOUT
        )

    async def pause(self, seconds: float) -> None:
        if seconds >= self.remaining():
            raise self.timed_out()
        try:
            await asyncio.wait_for(self.abort.wait(), seconds)
        except TimeoutError:
            return
        raise Stopped(Status.ABORTED, "aborted")

    async def unless_stopped(self, work: Awaitable[T]) -> T:
        """`work`'s answer, unless the run is aborted first (then `work` is cancelled)."""
        if self.abort.is_set():
            # Cancelled, not dropped: a coroutine never awaited warns when it is collected.
            asyncio.ensure_future(work).cancel()
            raise Stopped(Status.ABORTED, "aborted")
        call = await unless_aborted(work, self.abort)
        if call is None:
            raise Stopped(Status.ABORTED, "aborted while a request was on its way")
        return call.result()
