"""Schedules: define, pause and resume them, preview their fire times and read their history;
firing what is due is `firing`'s."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Connection

from taskgate.core.clock import utcnow
from taskgate.core.context import CoreContext
from taskgate.core.schedules.changes import (
    audit_change,
    same_definition,
    save_schedule,
    set_enabled,
)
from taskgate.core.schedules.firing import ScheduleFiring
from taskgate.core.starts.service import StartService
from taskgate.domain.errors import Conflict, InvalidInput, NotFound
from taskgate.domain.executions import Caller
from taskgate.schedules import triggers
from taskgate.schedules.spec import Fire, HistoryEntry, Kind, Schedule, ScheduleSpec
from taskgate.store import schedules as rows
from taskgate.store import tasks as task_rows

T = TypeVar("T")
MAX_PREVIEW = 1000


class SchedulerService:
    def __init__(self, ctx: CoreContext, starts: StartService) -> None:
        self.ctx = ctx
        self._firing = ScheduleFiring(ctx, starts)
        # Set on every change made in this process, so the loop recomputes its wake-up.
        self.changed = asyncio.Event()

    # --- reading -------------------------------------------------------------------------

    async def get(self, schedule_id: str) -> Schedule:
        found = await self.ctx.db.read(lambda conn: rows.get(conn, schedule_id))
        if found is None:
            raise NotFound.named("schedule", schedule_id)
        return found

    async def listing(
        self,
        *,
        task: str | None = None,
        enabled: bool | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[Schedule], int]:
        def work(conn: Connection) -> tuple[list[Schedule], int]:
            task_id = None
            if task is not None:
                found = task_rows.get(conn, task)
                if found is None:
                    return [], 0
                task_id = found.key
            return rows.listing(conn, task_id=task_id, enabled=enabled, limit=limit, offset=offset)

        return await self.ctx.db.read(work)

    async def next_slot_by_task(self, task_ids: list[str]) -> dict[str, datetime]:
        """When each task is next due by one of its enabled schedules."""
        return await self.ctx.db.read(lambda conn: rows.next_slot_by_task(conn, task_ids))

    async def preview(
        self, schedule_id: str, *, count: int = 10, after: datetime | None = None
    ) -> list[Fire]:
        """The next `count` fire times after `after` (default now), paused or not."""
        if not 1 <= count <= MAX_PREVIEW:
            raise InvalidInput(f"count: must be 1-{MAX_PREVIEW}", field="count")
        if after is not None and after.tzinfo is None:
            raise InvalidInput("after: give an offset or Z", field="after")
        schedule = await self.get(schedule_id)
        trigger = triggers.build(schedule, schedule.created_at)
        tz = triggers.zone(schedule.timezone)
        # Up to a thousand solar or rare cron times take a noticeable fraction of a second:
        # off the event loop, so the scheduler and other requests keep their time.
        return await asyncio.to_thread(triggers.preview, trigger, tz, after or utcnow(), count)

    async def history(
        self, schedule_id: str, *, limit: int = 100, before: int | None = None
    ) -> list[HistoryEntry]:
        def work(conn: Connection) -> list[HistoryEntry]:
            if rows.get(conn, schedule_id) is None:
                raise NotFound.named("schedule", schedule_id)
            return rows.history(conn, schedule_id, limit=limit, before=before)

        return await self.ctx.db.read(work)

    # --- changing ------------------------------------------------------------------------

    async def create(self, spec: ScheduleSpec, caller: Caller) -> Schedule:
        def work(conn: Connection) -> Schedule:
            if spec.id is not None and rows.get(conn, spec.id) is not None:
                raise Conflict(f"schedule {spec.id!r} already exists", field="id")
            return save_schedule(conn, spec, None, caller, "api")

        return await self._changing(work)

    async def put(
        self, schedule_id: str, spec: ScheduleSpec, caller: Caller
    ) -> tuple[Schedule, bool]:
        """Replace the schedule whole, or create it under this id; True when created."""

        def work(conn: Connection) -> tuple[Schedule, bool]:
            existing = rows.get(conn, schedule_id, lock=True)
            spec_ = spec.model_copy(update={"id": schedule_id})
            saved = save_schedule(conn, spec_, existing, caller, "api")
            return saved, existing is None

        return await self._changing(work)

    async def delete(self, schedule_id: str, caller: Caller) -> Schedule:
        def work(conn: Connection) -> Schedule:
            found = rows.get(conn, schedule_id, lock=True)
            if found is None:
                raise NotFound.named("schedule", schedule_id)
            rows.delete(conn, schedule_id)
            audit_change(conn, caller, "schedule.delete", found)
            return found

        return await self._changing(work)

    async def pause(self, schedule_id: str, caller: Caller) -> Schedule:
        return await self._set_enabled([schedule_id], False, caller)

    async def resume(self, schedule_id: str, caller: Caller) -> Schedule:
        return await self._set_enabled([schedule_id], True, caller)

    async def set_all_enabled(
        self, enabled: bool, caller: Caller, *, kind: Kind | None = None
    ) -> list[Schedule]:
        """Pause or resume every schedule, or every one of a kind (Butler's stopall / startall
        reach the cron schedules, the ones that door shows)."""

        def work(conn: Connection) -> list[Schedule]:
            found, _ = rows.listing(conn, enabled=not enabled, limit=10**9)
            for schedule in found:
                if kind is None or schedule.kind is kind:
                    set_enabled(conn, schedule, enabled, caller)
            everything, _ = rows.listing(conn, limit=10**9)
            return everything

        return await self._changing(work)

    async def _set_enabled(self, ids: list[str], enabled: bool, caller: Caller) -> Schedule:
        def work(conn: Connection) -> Schedule:
            result: Schedule | None = None
            for schedule_id in ids:
                found = rows.get(conn, schedule_id, lock=True)
                if found is None:
                    raise NotFound.named("schedule", schedule_id)
                result = set_enabled(conn, found, enabled, caller)
            assert result is not None
            return result

        return await self._changing(work)

    async def sync_from_config(
        self, declared: Iterable[tuple[str, ScheduleSpec]], caller: Caller
    ) -> None:
        """Make the database hold the config's schedules (task id, spec with a stable id).

        An unchanged schedule keeps its next slot, so slots missed while the server was down
        meet their misfire policy; config schedules no longer declared are removed.
        """

        def work(conn: Connection) -> None:
            keep: set[str] = set()
            for task_id, spec in declared:
                assert spec.id is not None
                keep.add(spec.id)
                existing = rows.get(conn, spec.id, lock=True)
                spec = spec.model_copy(update={"task": task_id})
                if (
                    existing is not None
                    and existing.source == "config"
                    and same_definition(existing, spec)
                ):
                    continue
                save_schedule(conn, spec, existing, caller, "config")
            stale, _ = rows.listing(conn, source="config", limit=10**9)
            for schedule in stale:
                if schedule.id not in keep:
                    rows.delete(conn, schedule.id)
                    audit_change(conn, caller, "schedule.delete", schedule)

        await self._changing(work)

    async def _changing(self, work: Callable[[Connection], T]) -> T:
        result = await self.ctx.db.write(work)
        self.changed.set()
        return result

    # --- firing --------------------------------------------------------------------------

    async def fire_due(self) -> datetime | None:
        """Fire every schedule that is due; the earliest fire time still ahead (or None)."""
        return await self._firing.fire_due()
