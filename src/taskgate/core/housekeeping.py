"""Periodic clean-up, so stored state does not grow without bound."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from taskgate.core.clock import utcnow
from taskgate.core.context import CoreContext
from taskgate.store import idempotency

log = logging.getLogger(__name__)
EVERY_SECONDS = 600.0


async def purge_once(ctx: CoreContext) -> int:
    cutoff = utcnow() - timedelta(hours=ctx.idempotency_hours)
    return await ctx.db.write(lambda conn: idempotency.purge_before(conn, cutoff))


class Housekeeping:
    def __init__(self, ctx: CoreContext) -> None:
        self.ctx = ctx
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="taskgate-housekeeping")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            try:
                purged = await purge_once(self.ctx)
                if purged:
                    log.info("forgot %d expired idempotency keys", purged)
            except Exception:
                log.exception("housekeeping failed; will try again")
            await asyncio.sleep(EVERY_SECONDS)
