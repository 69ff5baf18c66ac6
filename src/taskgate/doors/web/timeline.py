"""A workflow's members on one time axis (the Gantt of its execution page): where each bar
starts and how wide it is, in percent of the span from the first start to the last end (or
now, while members run). Drawn by the template as SVG attributes: no script, no inline style."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from taskgate.domain.executions import Execution

# A bar narrower than this would not be seen (a member that took milliseconds of hours).
MIN_WIDTH = 0.5


@dataclass(frozen=True)
class Bar:
    execution: Execution
    x: float  # percent of the span
    width: float  # percent; 0 when it has not started
    running: bool


@dataclass(frozen=True)
class Timeline:
    start: datetime | None
    end: datetime | None
    bars: list[Bar]


def timeline(members: list[Execution], now: datetime) -> Timeline:
    started = [m.started_at for m in members if m.started_at is not None]
    if not started:
        return Timeline(None, None, [Bar(m, 0.0, 0.0, False) for m in members])
    first = min(started)
    last = max([m.finished_at or now for m in members if m.started_at is not None])
    span = max((last - first).total_seconds(), 1e-3)
    bars = []
    for member in members:
        if member.started_at is None:
            bars.append(Bar(member, 0.0, 0.0, False))
            continue
        ended = member.finished_at or now
        x = (member.started_at - first).total_seconds() / span * 100
        width = max((ended - member.started_at).total_seconds() / span * 100, MIN_WIDTH)
        bars.append(
            Bar(
                member,
                round(x, 2),
                round(min(width, 100 - x), 2) or MIN_WIDTH,
                not member.finished_at,
            )
        )
    return Timeline(first, last, bars)
