"""The next fire times of a schedule that is not stored: a spec typed into a form, checked and
previewed by the same triggers the scheduler runs."""

from __future__ import annotations

import asyncio

from taskgate.core.clock import utcnow
from taskgate.core.schedules.service import MAX_PREVIEW
from taskgate.domain.errors import InvalidInput
from taskgate.schedules import triggers
from taskgate.schedules.spec import Fire, ScheduleSpec


async def preview_spec(spec: ScheduleSpec, count: int = 10) -> list[Fire]:
    if not 1 <= count <= MAX_PREVIEW:
        raise InvalidInput(f"count: must be 1-{MAX_PREVIEW}", field="count")
    now = utcnow()
    trigger = triggers.build(spec, now)
    tz = triggers.zone(spec.timezone)
    return await asyncio.to_thread(triggers.preview, trigger, tz, now, count)
