"""The event stream for the pages: the native API's stream (/api/v1/events), authenticated by
the session cookie, since a browser's EventSource cannot send an Authorization header."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sse_starlette import EventSourceResponse

from taskgate.domain.events import EventFilter
from taskgate.doors.api.routes_events import KEEPALIVE_SECONDS, execution_stream, parse_event_id
from taskgate.doors.web.door import WebDoor
from taskgate.doors.web.pageroute import PageRoute


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
        )
        resume = parse_event_id(request.headers.get("last-event-id"), bus)
        return EventSourceResponse(execution_stream(bus, wanted, resume), ping=KEEPALIVE_SECONDS)

    return pages
