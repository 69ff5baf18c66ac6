"""Retention: deletes the stored history that is past its limits, a small batch per
transaction, so a long backlog never holds the database for long. The housekeeping loop runs
it; `taskgate db purge` runs it (or counts what it would delete) on a database directly."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Connection

from taskgate.core.clock import utcnow
from taskgate.domain.retention import Keep, Kind, PurgeReport, RetentionPolicy
from taskgate.store import retention as rows
from taskgate.store.db import Database

log = logging.getLogger(__name__)
# Told the ids of the executions that went, after their commit (files of theirs on disk).
ExecutionsPurged = Callable[[list[str]], None]


class Retention:
    def __init__(
        self,
        db: Database,
        policy: RetentionPolicy,
        on_executions_purged: ExecutionsPurged | None = None,
    ) -> None:
        self.db = db
        self.policy = policy
        self.on_executions_purged = on_executions_purged

    async def purge(self, now: datetime | None = None) -> PurgeReport:
        """Delete what is past its retention, up to `max_batches` batches of each kind."""
        now = now or utcnow()
        report = PurgeReport()
        for kind in Kind:
            keep = self.policy.of(kind)
            if keep.unlimited:
                continue
            for _ in range(self.policy.max_batches):
                gone = await self.db.write(partial(self._batch, kind=kind, keep=keep, now=now))
                report.counts[kind] += len(gone)
                if kind is Kind.EXECUTIONS and gone and self.on_executions_purged is not None:
                    self.on_executions_purged([str(key) for key in gone])
                if len(gone) < self.policy.batch_size:
                    break
                # Let the server's other work in between batches (SQLite runs on the loop).
                await asyncio.sleep(0)
        return report

    def _batch(self, conn: Connection, *, kind: Kind, keep: Keep, now: datetime) -> list[Any]:
        keys = rows.candidates(conn, kind, keep, now, self.policy.batch_size)
        return rows.delete(conn, kind, keys)

    async def preview(self, now: datetime | None = None) -> PurgeReport:
        """What `purge` would delete now (all of it, however many batches that takes)."""
        at = now or utcnow()
        report = PurgeReport()
        for kind in Kind:
            keep = self.policy.of(kind)
            report.counts[kind] = await self.db.read(
                partial(rows.count, kind=kind, keep=keep, now=at)
            )
        return report
