"""`/`: the landing page for a visitor who is not logged in; the overview after login (what
runs now, what waits, what failed in the last 24 h, what fires next, starts per minute)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request, Response

from taskgate.core import activity
from taskgate.core.clock import utcnow
from taskgate.domain.status import ACTIVE, FAILED, PENDING
from taskgate.doors.web.door import WebDoor
from taskgate.doors.web.pageroute import PageRoute

CHART_HOURS = 3
FAILURES_SHOWN = 20
VIOLATIONS_SHOWN = 20
NEXT_FIRES_SHOWN = 10


def router(door: WebDoor) -> APIRouter:
    pages = APIRouter(include_in_schema=False, route_class=PageRoute)
    services = door.services

    async def live_context() -> dict[str, Any]:
        unfinished = await services.executions.unfinished()
        return {
            "running": [e for e in unfinished if e.status in ACTIVE],
            "queued": [e for e in unfinished if e.status in PENDING],
        }

    @pages.get("/")
    async def home(request: Request) -> Response:
        visitor = await door.visitor(request)
        if visitor is None:
            return door.render(request, "landing.html", None)
        day_ago = utcnow() - timedelta(hours=24)
        failures, _ = await services.executions.listing(
            task=None,
            statuses=tuple(FAILED),
            origin=None,
            since=day_ago,
            limit=FAILURES_SHOWN,
            cursor=None,
        )
        violations = await services.checks.recent(day_ago, VIOLATIONS_SHOWN)
        live = await live_context()
        # Runs still going that passed their max_duration (or learned band) already.
        overrunning = [e for e in live["running"] if e.warnings]
        schedules, _ = await services.schedules.listing(
            task=None, enabled=True, limit=1000, offset=0
        )
        upcoming = sorted(
            (s for s in schedules if s.next_fire_at is not None),
            key=lambda s: s.next_fire_at or utcnow(),
        )[:NEXT_FIRES_SHOWN]
        series, cut = await activity.starts_per_minute(services.ctx.db, CHART_HOURS)
        chart = {
            "x": [int(minute.timestamp()) for minute, _ in series],
            "y": [count for _, count in series],
        }
        return door.render(
            request,
            "overview.html",
            visitor,
            failures=failures,
            upcoming=upcoming,
            chart=json.dumps(chart),
            chart_hours=CHART_HOURS,
            chart_cut=cut,
            violations=violations,
            overrunning=overrunning,
            **live,
        )

    @pages.get("/ui/overview/live")
    async def live(request: Request) -> Response:
        visitor = await door.viewer(request)
        context = await live_context()
        return door.render(request, "partials/overview_live.html", visitor, **context)

    return pages
