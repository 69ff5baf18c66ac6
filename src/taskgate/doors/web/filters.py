"""How the templates show values: times (UTC in the page, the viewer's zone by
static/js/dashboard.js, UTC on hover), durations, JSON, statuses."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment
from markupsafe import Markup, escape


def when(value: datetime | None) -> Markup:
    if value is None:
        return Markup("&mdash;")
    utc = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    shown = f"{utc:%Y-%m-%d %H:%M:%S} UTC"
    return Markup('<time datetime="{}" title="{}">{}</time>').format(utc.isoformat(), shown, shown)


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


def status_badge(status: Any) -> Markup:
    name = str(getattr(status, "value", status))
    return Markup('<span class="status status-{}">{}</span>').format(
        name, escape(name.replace("_", " "))
    )


def install(env: Environment) -> None:
    env.filters.update(when=when, duration=duration, json=pretty_json, status=status_badge)
