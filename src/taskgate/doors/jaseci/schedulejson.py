"""Jaseci's schedule JSON onto taskgate schedules, and back for listings.

    {"type": "interval", "conf": {"every": 1, "period": "minutes"}}
    {"type": "crontab",  "conf": {"minute": "0", "hour": "3"}}          (also "cron")
    {"type": "solar",    "conf": {"event": "sunset", "latitude": 60.2, "longitude": 24.9}}
    {"type": "clocked",  "conf": {"clocked_time": "2027-01-01T03:00:00Z"}}

Jaseci turned every type but `interval` into a crontab and stored bad values unchecked, to
fail (or be skipped silently) when beat loaded them; here a bad schedule is refused when it is
made (BadSchedule, 400, naming the field). Times are UTC unless `timezone` says otherwise.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from taskgate.domain.errors import InvalidInput
from taskgate.schedules.spec import Kind, Schedule, SolarEvent, Unit

CRON_FIELDS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
_PERIODS = {
    "days": Unit.DAYS,
    "hours": Unit.HOURS,
    "minutes": Unit.MINUTES,
    "seconds": Unit.SECONDS,
}
_TYPES = {
    "interval": Kind.INTERVAL,
    "crontab": Kind.CRON,
    "cron": Kind.CRON,
    "solar": Kind.SOLAR,
    "clocked": Kind.CLOCKED,
}
_TOP_KEYS = {"type", "conf", "one_off", "timezone", "every", "period"}


class BadSchedule(InvalidInput):
    """A schedule Jaseci's JSON cannot describe or taskgate cannot run: 400 at creation."""


def schedule_fields(raw: Any) -> dict[str, Any]:
    """The ScheduleSpec fields (kind and its own) for Jaseci's `schedule`."""
    if not isinstance(raw, dict):
        raise BadSchedule("schedule must be an object with type and conf", field="schedule")
    unknown = set(raw) - _TOP_KEYS
    if unknown:
        raise BadSchedule(f"unknown keys: {', '.join(sorted(unknown))}", field="schedule")
    kind = _TYPES.get(str(raw.get("type", "")).lower())
    if kind is None:
        raise BadSchedule("type must be interval, crontab, solar or clocked", field="schedule.type")
    conf = raw.get("conf")
    if conf is None and kind is Kind.INTERVAL:
        # Jaseci's own test sends every/period beside conf; read them there too.
        conf = {k: raw[k] for k in ("every", "period") if k in raw}
    if conf is None:
        conf = {}
    if not isinstance(conf, dict):
        raise BadSchedule("conf must be an object", field="schedule.conf")
    one_off = raw.get("one_off", False)
    if one_off not in (True, False):
        raise BadSchedule("one_off is true or false", field="schedule.one_off")
    if one_off and kind is not Kind.CLOCKED:
        raise BadSchedule("a schedule that runs once is type clocked", field="schedule.one_off")
    timezone = raw.get("timezone", "UTC")
    if not isinstance(timezone, str) or not timezone:
        raise BadSchedule("timezone is an IANA zone name", field="schedule.timezone")
    fields: dict[str, Any] = {"kind": kind, "timezone": timezone}
    match kind:
        case Kind.INTERVAL:
            fields.update(_interval(conf))
        case Kind.CRON:
            fields.update(_crontab(conf))
        case Kind.SOLAR:
            fields.update(_solar(conf))
        case Kind.CLOCKED:
            fields.update(_clocked(conf))
    return fields


def _only(conf: dict[str, Any], allowed: set[str] | tuple[str, ...]) -> None:
    unknown = set(conf) - set(allowed)
    if unknown:
        raise BadSchedule(f"unknown keys: {', '.join(sorted(unknown))}", field="schedule.conf")


def _interval(conf: dict[str, Any]) -> dict[str, Any]:
    _only(conf, {"every", "period"})
    every = conf.get("every", 1)
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise BadSchedule("every is a whole number ≥ 1", field="schedule.conf.every")
    period = _PERIODS.get(str(conf.get("period", "minutes")))
    if period is None:
        raise BadSchedule("period is days, hours, minutes or seconds", field="schedule.conf.period")
    return {"every": every, "unit": period}


def _crontab(conf: dict[str, Any]) -> dict[str, Any]:
    _only(conf, CRON_FIELDS)
    parts = []
    for name in CRON_FIELDS:
        value = conf.get(name, "*")
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise BadSchedule(f"{name} is text or a number", field=f"schedule.conf.{name}")
        text = str(value).strip()
        if not text or " " in text:
            raise BadSchedule(f"{name} is one crontab field", field=f"schedule.conf.{name}")
        parts.append(text)
    return {"cron": " ".join(parts)}


def _solar(conf: dict[str, Any]) -> dict[str, Any]:
    _only(conf, {"event", "latitude", "longitude"})
    try:
        event = SolarEvent(str(conf.get("event")))
    except ValueError:
        names = ", ".join(e.value for e in SolarEvent)
        raise BadSchedule(f"event is one of {names}", field="schedule.conf.event") from None
    found: dict[str, Any] = {"event": event}
    for name, limit in (("latitude", 90), ("longitude", 180)):
        value = conf.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float) or abs(value) > limit:
            raise BadSchedule(f"{name} is a number within ±{limit}", field=f"schedule.conf.{name}")
        found[name] = float(value)
    return found


def _clocked(conf: dict[str, Any]) -> dict[str, Any]:
    _only(conf, {"clocked_time"})
    raw = conf.get("clocked_time")
    try:
        at = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        raise BadSchedule(
            "clocked_time is an ISO 8601 instant", field="schedule.conf.clocked_time"
        ) from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)  # Jaseci's clocks are UTC
    return {"at": at}


def jaseci_schedule(schedule: Schedule) -> dict[str, Any]:
    """A stored schedule in Jaseci's listing shape: {"type", "conf"}."""
    match schedule.kind:
        case Kind.INTERVAL:
            return {
                "type": "interval",
                "conf": {"every": schedule.every, "period": schedule.unit.value},
            }
        case Kind.CRON:
            fields = (schedule.cron or "").split()
            if len(fields) == len(CRON_FIELDS):
                return {"type": "crontab", "conf": dict(zip(CRON_FIELDS, fields, strict=True))}
            return {"type": "crontab", "conf": {"cron": schedule.cron}}
        case Kind.SOLAR:
            conf = {
                "event": schedule.event,
                "latitude": schedule.latitude,
                "longitude": schedule.longitude,
            }
            return {"type": "solar", "conf": conf}
        case Kind.CLOCKED:
            at = schedule.at.isoformat() if schedule.at else None
            return {"type": "clocked", "conf": {"clocked_time": at}}
    return {"type": schedule.kind.value, "conf": {}}
