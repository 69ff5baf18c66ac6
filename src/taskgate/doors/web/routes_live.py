"""The event stream for the pages: the native API's stream (/api/v1/events), authenticated by
the session cookie, since a browser's EventSource cannot send an Authorization header.

`?coalesce=1` (the overview) sends at most one message per COALESCE_SECONDS, saying how many
events happened: the page only needs a nudge to refresh its lists, and a server that starts
hundreds of runs a second must not push every one of them to every open overview tab.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from taskgate.core.events import EventBus
from taskgate.domain.events import EventFilter
from taskgate.doors.api.routes_events import (
    KEEPALIVE_SECONDS,
    RETRY_MS,
    execution_stream,
    parse_event_id,
)
from taskgate.doors.web.door import WebDoor
from taskgate.doors.web.pageroute import PageRoute

COALESCE_SECONDS = 1.0


async def coalesced_stream(
    bus: EventBus, wanted: EventFilter, every: float = COALESCE_SECONDS
) -> AsyncIterator[ServerSentEvent]:
    async with bus.subscribe() as events:
        yield ServerSentEvent("{}", event="connected", retry=RETRY_MS)
        while True:
            event = await events.get()
            if not wanted.matches(event):
                continue
            await asyncio.sleep(every)
            count = 1 + sum(wanted.matches(later) for later in events.ready())
            yield ServerSentEvent(json.dumps({"events": count}), event="execution")


def router(door: WebDoor) -> APIRouter:
    pages = APIRouter(include_in_schema=False, route_class=PageRoute)

    @pages.get("/ui/events")
    async def events(request: Request) -> EventSourceResponse:
        await door.viewer(request)
        bus = door.services.ctx.bus
        query = request.query_params
        wanted = EventFilter.of(
            tasks=query.getlist("task"),
            tags=query.getlist("tag"),
            executions=query.getlist("execution"),
            statuses=[],
            within=query.getlist("workflow"),
        )
        if query.get("coalesce") == "1":
            return EventSourceResponse(coalesced_stream(bus, wanted), ping=KEEPALIVE_SECONDS)
        resume = parse_event_id(request.headers.get("last-event-id"), bus)
        return EventSourceResponse(execution_stream(bus, wanted, resume), ping=KEEPALIVE_SECONDS)

    return pages
