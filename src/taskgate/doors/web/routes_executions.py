"""Executions: the list with filters and cursor pagination; an execution's page, whose status
panel and history follow the event stream and whose log tails the log API while it runs;
abort and run again."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

from taskgate.core.clock import utcnow
from taskgate.domain.apikeys import Role
from taskgate.domain.chains import Chain
from taskgate.domain.errors import InvalidInput, NotFound
from taskgate.domain.executions import Execution
from taskgate.domain.status import Status
from taskgate.doors.web.door import WebDoor
from taskgate.doors.web.pageroute import PageRoute
from taskgate.doors.web.starting import start_task
from taskgate.doors.web.timeline import timeline

PAGE_SIZE = 50
LOG_PAGE = 65536
ORIGINS = ("api", "butler", "qrs", "mqtt", "schedule", "chain", "workflow", "cli", "ui")


def parse_zone(value: str) -> tzinfo:
    """The zone the filter's times are typed in: the viewer's, which dashboard.js puts in
    the form (an IANA name); blank (no script): UTC."""
    if not value.strip():
        return UTC
    try:
        return ZoneInfo(value.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"zone: {value!r} is not an IANA time zone", field="zone") from None


def parse_time(name: str, value: str, zone: tzinfo = UTC) -> datetime | None:
    """A filter's time: an ISO date or date and time, in `zone` unless it says its offset."""
    if not value.strip():
        return None
    try:
        at = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(f"{name}: not a date and time ({value!r})", field=name) from None
    return at if at.tzinfo else at.replace(tzinfo=zone)


def parse_statuses(values: list[str]) -> tuple[Status, ...]:
    try:
        return tuple(Status(v) for v in values if v)
    except ValueError as exc:
        raise InvalidInput(f"status: {exc}", field="status") from None


def panel_context(
    execution: Execution, chain: Chain | None, triggers: list[Execution]
) -> dict[str, Any]:
    return {
        "e": execution,
        "triggers": {t.id: t for t in triggers},
        "result": None if execution.result is None else json.dumps(execution.result, indent=2),
        "timeline": timeline(execution.children or [], utcnow()),
        "chain": chain,
    }


def router(door: WebDoor) -> APIRouter:
    pages = APIRouter(include_in_schema=False, route_class=PageRoute)
    services = door.services

    @pages.get("/ui/executions")
    async def execution_list(request: Request) -> Response:
        visitor = await door.viewer(request)
        query = request.query_params
        statuses = parse_statuses(query.getlist("status"))
        zone = parse_zone(query.get("zone", ""))
        items, next_cursor = await services.executions.listing(
            task=query.get("task") or None,
            statuses=statuses,
            origin=query.get("origin") or None,
            since=parse_time("since", query.get("since", ""), zone),
            until=parse_time("until", query.get("until", ""), zone),
            caller=query.get("caller") or None,
            limit=PAGE_SIZE,
            cursor=query.get("cursor") or None,
        )
        kept = [(k, v) for k, v in query.multi_items() if k != "cursor"]
        return door.render(
            request,
            "executions.html",
            visitor,
            items=items,
            next_cursor=next_cursor,
            query=query,
            kept=kept,
            chosen={s.value for s in statuses},
            statuses=[s.value for s in Status if s is not Status.NEVER_STARTED],
            origins=ORIGINS,
        )

    async def shown(execution_id: str) -> dict[str, Any]:
        """An execution with its workflow's phases and members, and its chain rule."""
        execution = await services.queues.annotate(await services.workflows.tree(execution_id))
        chain = None
        triggers = await services.executions.get_many(execution.triggered_by or [])
        if execution.chain_id is not None:
            # The rule may have been deleted since it fired: the page still links its runs.
            with contextlib.suppress(NotFound):
                chain = await services.chains.get(execution.chain_id)
        return panel_context(execution, chain, triggers)

    @pages.get("/ui/executions/{execution_id}")
    async def execution_page(request: Request, execution_id: str) -> Response:
        visitor = await door.viewer(request)
        context = await shown(execution_id)
        events = await services.history.of(execution_id)
        return door.render(request, "execution.html", visitor, events=events, **context)

    @pages.get("/ui/executions/{execution_id}/panel")
    async def panel(request: Request, execution_id: str) -> Response:
        visitor = await door.viewer(request)
        context = await shown(execution_id)
        return door.render(request, "partials/execution_panel.html", visitor, **context)

    @pages.get("/ui/executions/{execution_id}/events")
    async def history_part(request: Request, execution_id: str) -> Response:
        """The execution's history, read again on each event of the page's stream."""
        visitor = await door.viewer(request)
        execution = await services.executions.get(execution_id, with_attempts=False)
        events = await services.history.of(execution_id)
        return door.render(
            request, "partials/execution_events.html", visitor, e=execution, events=events
        )

    @pages.get("/ui/executions/{execution_id}/log")
    async def log(request: Request, execution_id: str) -> Response:
        await door.viewer(request)
        try:
            offset = max(0, int(request.query_params.get("offset", "0")))
        except ValueError:
            raise InvalidInput("offset: a whole number", field="offset") from None
        page = await services.executions.read_log(execution_id, offset, LOG_PAGE)
        body = {
            "offset": page.offset,
            "next_offset": page.next_offset,
            "data": page.data,
            "complete": page.complete,
        }
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    @pages.post("/ui/executions/{execution_id}/abort")
    async def abort(request: Request, execution_id: str) -> Response:
        visitor = await door.acting(request, Role.OPERATOR)
        await services.executions.abort(execution_id, visitor.caller)
        return RedirectResponse(f"/ui/executions/{execution_id}", 303)

    @pages.post("/ui/executions/{execution_id}/rerun")
    async def run_again(request: Request, execution_id: str) -> Response:
        visitor = await door.acting(request, Role.OPERATOR)
        execution = await services.executions.get(execution_id, with_attempts=False)
        task = await services.tasks.get(execution.task_id)
        result = await start_task(services, task, execution.params, visitor.caller)
        target = result.executions[0].id if result.executions else execution_id
        return RedirectResponse(f"/ui/executions/{target}", 303)

    return pages
