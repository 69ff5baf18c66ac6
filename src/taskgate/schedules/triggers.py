"""Triggers: pure next-fire computations. `build(spec, anchor)` makes the one a spec names.

Every trigger answers `next_after(instant)`: the first fire time strictly after it (UTC), or
None when it will never fire again. `preview` lists upcoming fire times with notes.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from taskgate.domain.errors import InvalidInput
from taskgate.schedules.cron import CronTrigger
from taskgate.schedules.solar import SolarTrigger
from taskgate.schedules.spec import Fire, Kind, ScheduleSpec, Unit

UNIT_SECONDS = {Unit.SECONDS: 1, Unit.MINUTES: 60, Unit.HOURS: 3600, Unit.DAYS: 86400}
MAX_INTERVAL_SECONDS = 100 * 366 * 86400
PREVIEW_BUDGET_SECONDS = 2.0


class Trigger(Protocol):
    def next_after(self, after: datetime) -> datetime | None: ...


class IntervalTrigger:
    """Every `period` of real elapsed time, counted from `anchor` (daylight saving does not
    stretch or shrink it: a daily interval keeps 24 hours, so its wall-clock time moves)."""

    def __init__(self, period: timedelta, anchor: datetime) -> None:
        self.period = period
        self.anchor = anchor.astimezone(UTC)

    def next_after(self, after: datetime) -> datetime | None:
        if after < self.anchor:
            return self.anchor
        return self.anchor + ((after - self.anchor) // self.period + 1) * self.period


class ClockedTrigger:
    def __init__(self, at: datetime) -> None:
        self.at = at.astimezone(UTC)

    def next_after(self, after: datetime) -> datetime | None:
        return self.at if self.at > after else None


class Bounded:
    """A trigger that fires nothing before `start` and nothing after `end`."""

    def __init__(self, inner: Trigger, start: datetime | None, end: datetime | None) -> None:
        self.inner = inner
        self.start = start
        self.end = end

    def next_after(self, after: datetime) -> datetime | None:
        if self.start is not None and after < self.start:
            after = self.start - timedelta(microseconds=1)
        try:
            found = self.inner.next_after(after)
        except OverflowError:
            return None  # past the year 9999: nothing left to fire
        if found is None or (self.end is not None and found > self.end):
            return None
        return found


def zone(name: str, field: str = "timezone") -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"{field}: {name!r} is not an IANA time zone (e.g. Europe/Riga, UTC)", field=field
        ) from None


def _need(value: object, field: str, kind: Kind) -> None:
    if value is None:
        raise InvalidInput(f"{field}: required for a {kind.value} schedule", field=field)


def build(spec: ScheduleSpec, anchor: datetime) -> Bounded:
    """The trigger `spec` describes; `anchor` starts an interval without `start_at`.

    Raises InvalidInput naming the field at fault.
    """
    tz = zone(spec.timezone)
    if spec.start_at and spec.end_at and spec.end_at <= spec.start_at:
        raise InvalidInput("end_at: must be after start_at", field="end_at")
    inner: Trigger
    match spec.kind:
        case Kind.CRON:
            _need(spec.cron, "cron", spec.kind)
            assert spec.cron is not None
            inner = CronTrigger(spec.cron, tz)
        case Kind.INTERVAL:
            _need(spec.every, "every", spec.kind)
            assert spec.every is not None
            seconds = spec.every * UNIT_SECONDS[spec.unit]
            if seconds > MAX_INTERVAL_SECONDS:
                raise InvalidInput("every: at most 100 years", field="every")
            period = timedelta(seconds=seconds)
            inner = IntervalTrigger(period, spec.start_at or anchor)
        case Kind.SOLAR:
            _need(spec.event, "event", spec.kind)
            _need(spec.latitude, "latitude", spec.kind)
            _need(spec.longitude, "longitude", spec.kind)
            assert spec.event and spec.latitude is not None and spec.longitude is not None
            inner = SolarTrigger(spec.event, spec.latitude, spec.longitude, spec.offset_minutes, tz)
        case Kind.CLOCKED:
            _need(spec.at, "at", spec.kind)
            assert spec.at is not None
            inner = ClockedTrigger(spec.at)
    _no_foreign_fields(spec)
    return Bounded(inner, spec.start_at, spec.end_at)


_FIELDS_OF = {
    "cron": Kind.CRON,
    "every": Kind.INTERVAL,
    "event": Kind.SOLAR,
    "latitude": Kind.SOLAR,
    "longitude": Kind.SOLAR,
    "at": Kind.CLOCKED,
}


def _no_foreign_fields(spec: ScheduleSpec) -> None:
    """A field of another kind is a mistake worth naming (a cron line on an interval)."""
    for name, kind in _FIELDS_OF.items():
        if kind is not spec.kind and getattr(spec, name) is not None:
            raise InvalidInput(
                f"{name}: belongs to a {kind.value} schedule, this one is {spec.kind.value}",
                field=name,
            )


def preview(trigger: Bounded, tz: ZoneInfo, after: datetime, count: int) -> list[Fire]:
    """The next `count` fire times after `after`, with a note where a solar event is missing;
    fewer when the schedule ends, or when computing them takes over PREVIEW_BUDGET_SECONDS."""
    fires: list[Fire] = []
    moment = after
    deadline = time.monotonic() + PREVIEW_BUDGET_SECONDS
    for _ in range(count):
        if time.monotonic() > deadline:
            break  # polar solar events a season apart: what was found in time
        note = ""
        inner = trigger.inner
        if isinstance(inner, SolarTrigger):
            bounded_after = moment
            if trigger.start is not None and moment < trigger.start:
                bounded_after = trigger.start - timedelta(microseconds=1)
            try:
                solar = inner.next_fire(bounded_after)
            except OverflowError:
                solar = None
            found = solar.at if solar else None
            if found is not None and trigger.end is not None and found > trigger.end:
                found = None
            if solar is not None and solar.skipped_from is not None:
                note = (
                    f"no {inner.event.value} from {solar.skipped_from} to {solar.skipped_to} "
                    "(the Sun does not cross that horizon): days skipped"
                )
        else:
            found = trigger.next_after(moment)
        if found is None:
            break
        fires.append(Fire(at=found, local=found.astimezone(tz).isoformat(), note=note))
        moment = found
    return fires
