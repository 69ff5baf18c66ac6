"""Cron expressions, on cronsim (Debian cron's rules, including its daylight-saving rules).

- 5 fields `minute hour day-of-month month day-of-week`, or 6 with seconds first.
- Names (`jan`, `mon`), ranges, steps, lists, `L`, `LW`, `5L`, `mon#2`, and the macros below.
- Day-of-month and day-of-week: AND when either field starts with `*`, otherwise OR.
- In a zone with daylight saving, a 5-field expression with a fixed minute and hour runs a
  wall-clock time that does not exist once, right after the gap, and a time that occurs twice
  once, at its first occurrence; other expressions follow the real clock (cronsim does this).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError

from taskgate.domain.errors import InvalidInput

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
# cronsim gives up when nothing matches within 50 years (e.g. `0 0 30 2 *` is refused, but
# `0 0 29 2 1` may be decades away).
_PROBE = datetime(2000, 1, 1, tzinfo=UTC)


def expand(expression: str) -> str:
    text = " ".join(expression.split())
    return MACROS.get(text.lower(), text)


def validate(expression: str, field: str = "cron") -> str:
    """The expression as cronsim reads it; InvalidInput naming `field` and the cron field."""
    text = expand(expression)
    fields = text.split()
    if len(fields) not in (5, 6):
        raise InvalidInput(
            f"{field}: expected 5 fields (minute hour day-of-month month day-of-week), 6 with "
            f"seconds first, or one of {', '.join(MACROS)}; got {len(fields)} in {expression!r}",
            field=field,
        )
    try:
        CronSim(text, _PROBE)
    except CronSimError as exc:
        detail = str(exc)
        name = detail.removeprefix("Bad ")
        raise InvalidInput(
            f"{field}: bad {name} field in {expression!r}", field=field, cron_field=name
        ) from None
    return text


class CronTrigger:
    def __init__(self, expression: str, zone: ZoneInfo) -> None:
        self.expression = validate(expression)
        self.zone = zone

    def next_after(self, after: datetime) -> datetime | None:
        """The first fire time strictly after `after`, as UTC; None when there is none."""
        local = after.astimezone(self.zone)
        try:
            for found in CronSim(self.expression, local):
                moment = found.astimezone(UTC)
                # A wall-clock search started inside a repeated hour can land before `after`.
                if moment > after:
                    return moment
                if moment < after - timedelta(hours=3):
                    return None  # pragma: no cover - cronsim never goes back this far
        except StopIteration:
            return None
        return None  # pragma: no cover - the iterator ends only by StopIteration

    def previous_before(self, before: datetime) -> datetime | None:
        """The last fire time strictly before `before`, as UTC; None when there is none."""
        local = before.astimezone(self.zone)
        try:
            for found in CronSim(self.expression, local, reverse=True):
                moment = found.astimezone(UTC)
                if moment < before:
                    return moment
        except StopIteration:
            return None
        return None  # pragma: no cover - the iterator ends only by StopIteration
