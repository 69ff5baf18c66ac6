"""What a caller writes to define a schedule, and the stored schedule as every door sees it.

The shape is flat (`kind` plus the fields of that kind) so a schedule reads well in YAML and
on a command line. Whether the fields of a kind make sense together (a cron expression that
parses, a zone that exists) is checked by `triggers.build`, which names the field at fault.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from taskgate.domain.model import Strict
from taskgate.domain.tasks import distinct_tags
from taskgate.domain.text import check_instant

SCHEDULE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"


class Kind(StrEnum):
    CRON = "cron"
    INTERVAL = "interval"
    SOLAR = "solar"
    CLOCKED = "clocked"


class Unit(StrEnum):
    SECONDS = "seconds"
    MINUTES = "minutes"
    HOURS = "hours"
    DAYS = "days"


class SolarEvent(StrEnum):
    DAWN_ASTRONOMICAL = "dawn_astronomical"
    DAWN_NAUTICAL = "dawn_nautical"
    DAWN_CIVIL = "dawn_civil"
    SUNRISE = "sunrise"
    SOLAR_NOON = "solar_noon"
    SUNSET = "sunset"
    DUSK_CIVIL = "dusk_civil"
    DUSK_NAUTICAL = "dusk_nautical"
    DUSK_ASTRONOMICAL = "dusk_astronomical"


class Misfire(StrEnum):
    SKIP = "skip"  # slots missed by more than the grace period do not run
    ONCE = "once"  # one run stands for all the slots that are due at once
    ALL = "all"  # every missed slot runs, at most `misfire_limit` of them


class ScheduleSpec(Strict):
    """A time-based trigger of one task."""

    id: str | None = Field(None, pattern=SCHEDULE_ID_PATTERN)
    name: str = Field("", max_length=200)
    task: str = Field(..., min_length=1, max_length=200, description="Task id or label.")
    kind: Kind = Kind.CRON
    cron: str | None = Field(
        None,
        max_length=200,
        description="5 fields, or 6 with seconds first; or @hourly, @daily, ...",
    )
    every: int | None = Field(None, ge=1, le=10**9, description="Interval: every N units.")
    unit: Unit = Unit.SECONDS
    event: SolarEvent | None = None
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)
    offset_minutes: float = Field(0, ge=-1440, le=1440, description="Solar: after (+) the event.")
    at: datetime | None = Field(None, description="Clocked: the one instant.")
    timezone: str = Field("UTC", min_length=1, max_length=64, description="IANA zone name.")
    start_at: datetime | None = None
    end_at: datetime | None = None
    enabled: bool = True
    jitter_seconds: float = Field(0, ge=0, le=86400, description="Random delay added per run.")
    params: dict[str, Any] = Field(default_factory=dict)
    misfire: Misfire = Misfire.ONCE
    misfire_grace_seconds: float = Field(60, ge=0, le=7 * 86400)
    misfire_limit: int = Field(100, ge=1, le=10000, description="`all`: most runs per catch-up.")
    description: str = Field("", max_length=4000)
    tags: list[str] = Field(default_factory=list)
    meta: dict[str, Any] = Field(
        default_factory=dict, description="Kept as given, for the door that made the schedule."
    )

    @field_validator("at", "start_at", "end_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give an offset or Z (an instant, not a wall-clock time)")
        return None if value is None else check_instant(value)

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: list[str]) -> list[str]:
        return distinct_tags(tags)


ScheduleState = Literal["active", "paused", "ended"]


class Schedule(ScheduleSpec):
    """A stored schedule: the spec (with `task` as the task id) and where it stands."""

    id: str
    task_name: str = ""
    source: Literal["api", "config"] = "api"
    state: ScheduleState = "active"
    next_fire_at: datetime | None = None
    next_slot: datetime | None = None
    last_slot: datetime | None = None
    fire_count: int = 0
    created_at: datetime
    updated_at: datetime


class FireOutcome(StrEnum):
    FIRED = "fired"  # a slot started a run on time
    CAUGHT_UP = "caught_up"  # a missed slot (or several, under `once`) started a run late
    SKIPPED = "skipped"  # missed slots that did not run (policy `skip`, or past the limit)
    NOT_STARTED = "not_started"  # the start found nothing to run (task gone, disabled, bad params)


class HistoryEntry(BaseModel):
    id: int
    schedule_id: str
    slot: datetime
    from_slot: datetime | None = None
    slots: int = 1
    outcome: FireOutcome
    execution_id: str | None = None
    recorded_at: datetime
    late_ms: int = 0
    node: str = ""
    message: str = ""


class Fire(BaseModel):
    """One upcoming fire time of a preview."""

    at: datetime
    local: str
    note: str = ""
