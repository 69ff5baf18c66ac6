"""The timer that closes chain windows when their time is up.

It sleeps until the earliest open window expires (or a few seconds, to see windows other
servers opened), and is woken when a window opens here. Closing a window (firing or dropping
it) happens in one transaction that locks the rule's row, so when several servers share a
PostgreSQL database each window is closed once, by whichever gets to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from taskgate.core.background import stop_task
from taskgate.core.clock import utcnow
from taskgate.core.context import CoreContext
from taskgate.core.endings import AfterCommit
from taskgate.store import chains as rows

if TYPE_CHECKING:
    from taskgate.core.chains.firing import ChainFiring

log = logging.getLogger(__name__)
# How long the timer sleeps at most: a window another server opened is seen within this.
RECHECK_SECONDS = 2.0
# Past the expiry, so that the window is expired when the timer looks (no busy loop on ties).
MARGIN_SECONDS = 0.005
# How long the firings are kept (what each rule did; their keys guard against a replayed end,
# which comes within seconds), and how often the old ones are deleted.
FIRINGS_KEPT = timedelta(days=30)
PURGE_EVERY_SECONDS = 3600.0


class ChainTimer:
    def __init__(self, ctx: CoreContext, recheck_seconds: float = RECHECK_SECONDS) -> None:
        self.ctx = ctx
        self.recheck_seconds = recheck_seconds
        self.firing: ChainFiring | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._purged_at = -PURGE_EVERY_SECONDS

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="taskgate-chain-timer")

    async def stop(self) -> None:
        await stop_task(self._task)
        self._task = None

    async def sweep(self) -> float:
        """Close what is due; seconds until the next window expires (or the recheck)."""
        firing = self.firing
        assert firing is not None
        after = AfterCommit()
        closed = await self.ctx.db.write(lambda conn: firing.expire_due(conn, utcnow(), after))
        after.run(self.ctx.bus)
        if closed:
            log.info("closed %d expired chain window(s)", closed)
        following = await self.ctx.db.read(rows.next_expiry)
        if following is None:
            return self.recheck_seconds
        wait = (following - utcnow()).total_seconds() + MARGIN_SECONDS
        return min(max(wait, MARGIN_SECONDS), self.recheck_seconds)

    async def purge(self) -> int:
        """Forget firings older than FIRINGS_KEPT, at most once per PURGE_EVERY_SECONDS."""
        now = asyncio.get_running_loop().time()
        if now - self._purged_at < PURGE_EVERY_SECONDS:
            return 0
        self._purged_at = now
        cutoff = utcnow() - FIRINGS_KEPT
        return await self.ctx.db.write(lambda conn: rows.purge_firings_before(conn, cutoff))

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.purge()
                delay = await self.sweep()
            except Exception:
                log.exception("chain timer failed; trying again in %gs", self.recheck_seconds)
                delay = self.recheck_seconds
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
