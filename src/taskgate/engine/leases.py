"""Leases: every running execution is held by one server process until a time that process
keeps moving forward. A process that dies stops renewing, and any server's sweep then ends its
executions (or retries them, by their policy): no execution stays `started` for ever, and no
two processes run one execution, whatever their node names.

The keeper renews every lease of this process in one statement per interval (a third of the
lease), then sweeps. A run whose lease this process no longer holds (taken over while, say,
the database was out of reach) is stopped here, and a process that cannot renew for a whole
lease stops all its runs: another server may already be running them again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from taskgate.core.background import Periodic
from taskgate.core.clock import utcnow
from taskgate.core.context import CoreContext
from taskgate.engine.recovery import take_over_expired
from taskgate.store import holding

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Holder:
    """Who claims executions: the node name people see, and this process's instance."""

    node: str
    instance: str
    lease_seconds: float

    def lease_from(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.lease_seconds)


class LeaseKeeper:
    def __init__(
        self,
        ctx: CoreContext,
        holder: Holder,
        running: Callable[[], Collection[str]],
        lost: Callable[[str, str], None],
    ) -> None:
        self.ctx = ctx
        self.holder = holder
        self.running = running
        # Called with (execution id, why) for a run this process must stop.
        self.lost = lost
        self._renewed = time.monotonic()
        self.periodic = Periodic("leases", holder.lease_seconds / 3, self.keep, at_start=False)

    def start(self) -> None:
        self._renewed = time.monotonic()
        self.periodic.start()

    async def stop(self) -> None:
        await self.periodic.stop()

    async def keep(self) -> None:
        try:
            await self.renew()
        except Exception:
            self._give_up_if_too_late()
            raise
        await take_over_expired(self.ctx)

    async def renew(self) -> None:
        # Runs launched from now on were claimed before: the statement below sees them.
        before = set(self.running())
        now = utcnow()
        until = self.holder.lease_from(now)
        held = await self.ctx.db.write(
            lambda conn: holding.renew_leases(conn, self.holder.instance, now, until)
        )
        self._renewed = time.monotonic()
        for execution_id in before - held:
            if execution_id in self.running():
                self.lost(execution_id, "its lease was taken over by another server")

    def _give_up_if_too_late(self) -> None:
        silent = time.monotonic() - self._renewed
        if silent < self.holder.lease_seconds:
            return
        for execution_id in list(self.running()):
            self.lost(
                execution_id,
                f"its lease could not be renewed for {silent:.0f}s "
                "(another server may take it over)",
            )
