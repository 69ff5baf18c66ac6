"""The live stream: execution events as Server-Sent Events, resumable with Last-Event-ID."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query
from sse_starlette import EventSourceResponse, ServerSentEvent

from taskgate.core.events import EventBus
from taskgate.domain.errors import InvalidInput
from taskgate.domain.events import EventFilter, EventKind, ExecutionEvent
from taskgate.domain.status import Status
from taskgate.doors.api.deps import Core, Viewer

router = APIRouter(prefix="/api/v1", tags=["events"])
KEEPALIVE_SECONDS = 15.0
RETRY_MS = 2000


def parse_event_id(value: str | None, bus: EventBus) -> int | None:
    """The sequence number to resume after; 0 when the id is from an earlier server process
    (everything this process kept is newer)."""
    if value is None or not value.strip():
        return None
    epoch, sep, seq = value.strip().partition("-")
    if not sep or not seq.isdigit():
        raise InvalidInput(
            "Last-Event-ID: not an id this stream sent (<epoch>-<number>)", field="Last-Event-ID"
        )
    return int(seq) if epoch == bus.epoch else 0


def _execution(bus: EventBus, event: ExecutionEvent) -> ServerSentEvent:
    data = json.dumps(event.to_payload(), separators=(",", ":"))
    # Status changes are `execution` events; a check's news is named by its kind, so a
    # client that follows status changes is not misled by it.
    name = "execution" if event.is_status else event.kind
    return ServerSentEvent(data, event=name, id=f"{bus.epoch}-{event.seq}")


RELAY_GAP = {"message": "events of other servers may be missing before this point"}
MISSED = {"message": "some events before this point are no longer kept: read the store again"}


async def execution_stream(
    bus: EventBus, wanted: EventFilter, resume: int | None
) -> AsyncIterator[ServerSentEvent]:
    async with bus.subscribe(after=resume) as events:
        # Said once the subscription exists: a client may then read state it must not miss.
        yield ServerSentEvent("{}", event="connected", retry=RETRY_MS)
        relay_gaps, missed = bus.gaps, 0
        while True:
            event = await events.get()
            if events.missed != missed:
                # Resumed after events the server no longer keeps, or fell that far behind.
                missed = events.missed
                yield ServerSentEvent(json.dumps(MISSED), event="gap")
            if bus.gaps != relay_gaps:
                # The other servers' events were cut off for a while (core/cluster.py).
                relay_gaps = bus.gaps
                yield ServerSentEvent(json.dumps(RELAY_GAP), event="gap")
            if wanted.matches(event):
                yield _execution(bus, event)


@router.get(
    "/events",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def events(
    core: Core,
    _: Viewer,
    task: Annotated[list[str], Query(description="Task id or label (repeatable).")] = [],  # noqa: B006
    tag: Annotated[list[str], Query(description="Tag (repeatable).")] = [],  # noqa: B006
    execution: Annotated[list[str], Query(description="Execution id (repeatable).")] = [],  # noqa: B006
    status: Annotated[list[Status], Query(description="Status (repeatable).")] = [],  # noqa: B006
    kind: Annotated[
        list[EventKind], Query(description="Kind: status or a check's news (repeatable).")
    ] = [],  # noqa: B006
    workflow: Annotated[
        list[str],
        Query(description="Workflow execution id: its events and its members' (repeatable)."),
    ] = [],  # noqa: B006
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    since: Annotated[
        str | None, Query(description="Resume after this event id (for clients without headers).")
    ] = None,
) -> EventSourceResponse:
    """Every status change of every execution as it happens, as Server-Sent Events."""
    bus = core.ctx.bus
    resume = parse_event_id(last_event_id or since, bus)
    wanted = EventFilter.of(
        tasks=task, tags=tag, executions=execution, statuses=status, kinds=kind, within=workflow
    )
    # sse-starlette frames the events, sends a comment every KEEPALIVE_SECONDS so proxies
    # keep the connection, and ends the stream when the server shuts down.
    return EventSourceResponse(execution_stream(bus, wanted, resume), ping=KEEPALIVE_SECONDS)
