"""How the templates show values: times (UTC in the page, the viewer's zone by
static/js/dashboard.js, UTC on hover), durations, JSON, statuses."""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import Environment
from markupsafe import Markup, escape

from taskgate.core.clock import utcnow


def when(value: datetime | None) -> Markup:
    if value is None:
        return Markup("&mdash;")
    utc = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    # Digits, dashes, colons and a plus sign only: nothing to escape. (Markup.format would
    # escape each piece; a list page shows a hundred of these.)
    shown = f"{utc:%Y-%m-%d %H:%M:%S} UTC"
    return Markup(f'<time datetime="{utc.isoformat()}" title="{shown}">{shown}</time>')


def in_zone(value: datetime | None, zone: str) -> str:
    """The time as a clock in `zone` shows it (a schedule's own zone), for beside `when`."""
    if value is None:
        return "\u2014"
    try:
        local = value.astimezone(ZoneInfo(zone))
    except (ZoneInfoNotFoundError, ValueError):
        return ""
    return f"{local:%Y-%m-%d %H:%M:%S} {zone}"


def time_left(value: datetime | None) -> str:
    """How long until `value` (a key-value entry's expiry), from now."""
    if value is None:
        return "never"
    left = (value - utcnow()).total_seconds() * 1000
    return f"in {duration(left)}" if left > 0 else "expired"


def duration(ms: int | float | None) -> str:
    if ms is None:
        return "\u2014"
    seconds = ms / 1000
    if seconds < 1:
        return f"{ms:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min {seconds} s"


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)


@functools.cache
def _badge(name: str) -> Markup:
    return Markup('<span class="status status-{}">{}</span>').format(
        name, escape(name.replace("_", " "))
    )


def status_badge(status: Any) -> Markup:
    return _badge(str(getattr(status, "value", status)))


def install(env: Environment) -> None:
    env.filters.update(
        when=when,
        in_zone=in_zone,
        time_left=time_left,
        duration=duration,
        json=pretty_json,
        status=status_badge,
    )
