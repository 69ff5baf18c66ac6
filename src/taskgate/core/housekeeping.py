"""Periodic clean-up, so stored state does not grow without bound: expired idempotency keys,
and the history past its retention (core/retention.py)."""

from __future__ import annotations

import logging
from datetime import timedelta

from taskgate.core.background import Periodic
from taskgate.core.clock import utcnow
from taskgate.core.context import CoreContext
from taskgate.core.kv import KvService
from taskgate.core.retention import Retention
from taskgate.store import idempotency

log = logging.getLogger(__name__)
EVERY_SECONDS = 600.0


async def purge_once(ctx: CoreContext) -> int:
    cutoff = utcnow() - timedelta(hours=ctx.idempotency_hours)
    return await ctx.db.write(lambda conn: idempotency.purge_before(conn, cutoff))


def housekeeping(
    ctx: CoreContext, retention: Retention | None = None, every_seconds: float = EVERY_SECONDS
) -> Periodic:
    async def purge() -> None:
        purged = await purge_once(ctx)
        if purged:
            log.info("forgot %d expired idempotency keys", purged)
        if retention is not None:
            report = await retention.purge()
            if report.total:
                counts = ", ".join(f"{n} {kind}" for kind, n in report.counts.items() if n)
                log.info("retention: deleted %s", counts)

    return Periodic("housekeeping", every_seconds, purge, at_start=True)


def kv_sweeper(kv: KvService, every_seconds: float) -> Periodic:
    async def sweep() -> None:
        swept = await kv.sweep()
        if swept:
            log.debug("deleted %d expired key-value entries", swept)

    return Periodic("kv-sweep", every_seconds, sweep, at_start=False)
