"""When a schedule fires next: its first slot, and the fire time jitter makes of a slot."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from taskgate.schedules import triggers
from taskgate.schedules.spec import Kind, ScheduleSpec


def fire_time(slot: datetime | None, jitter_seconds: float) -> datetime | None:
    if slot is None or jitter_seconds <= 0:
        return slot
    # Jitter spreads runs of many schedules that share a slot; it is not a secret.
    return slot + timedelta(seconds=random.uniform(0, jitter_seconds))


def first_slot(trigger: triggers.Bounded, spec: ScheduleSpec, now: datetime) -> datetime | None:
    if spec.kind is Kind.CLOCKED:
        # A one-off instant given "now" (or a moment ago) still fires, as on time.
        return trigger.next_after(now - timedelta(seconds=spec.misfire_grace_seconds))
    return trigger.next_after(now)
