"""Executions: the list with filters and cursor pagination; an execution's page, whose status
panel follows the event stream and whose log tails the log API while it runs; abort and run
again."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

from taskgate.domain.apikeys import Role
from taskgate.domain.errors import InvalidInput
from taskgate.domain.status import Status
from taskgate.doors.web.door import WebDoor
from taskgate.doors.web.pageroute import PageRoute
from taskgate.doors.web.starting import start_task

PAGE_SIZE = 50
LOG_PAGE = 65536
ORIGINS = ("api", "butler", "qrs", "mqtt", "schedule", "chain", "workflow", "cli", "ui")


def parse_time(name: str, value: str) -> datetime | None:
    """A filter's time: an ISO date or date and time, in UTC unless it says its offset."""
    if not value.strip():
        return None
    try:
        at = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(f"{name}: not a date and time ({value!r})", field=name) from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def parse_statuses(values: list[str]) -> tuple[Status, ...]:
    try:
        return tuple(Status(v) for v in values if v)
    except ValueError as exc:
        raise InvalidInput(f"status: {exc}", field="status") from None


def panel_context(execution: Any) -> dict[str, Any]:
    return {
        "e": execution,
        "result": None if execution.result is None else json.dumps(execution.result, indent=2),
        # Extension points: a workflow's members and what triggered a chained run, when the
        # core's executions carry them.
        "children": getattr(execution, "children", None),
        "parent_id": getattr(execution, "parent_id", None),
        "triggered_by": getattr(execution, "triggered_by", None),
    }


def router(door: WebDoor) -> APIRouter:
    pages = APIRouter(include_in_schema=False, route_class=PageRoute)
    services = door.services

    @pages.get("/ui/executions")
    async def execution_list(request: Request) -> Response:
        visitor = await door.viewer(request)
        query = request.query_params
        statuses = parse_statuses(query.getlist("status"))
        items, next_cursor = await services.executions.listing(
            task=query.get("task") or None,
            statuses=statuses,
            origin=query.get("origin") or None,
            since=parse_time("since", query.get("since", "")),
            until=parse_time("until", query.get("until", "")),
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

    @pages.get("/ui/executions/{execution_id}")
    async def execution_page(request: Request, execution_id: str) -> Response:
        visitor = await door.viewer(request)
        execution = await services.executions.get(execution_id)
        return door.render(request, "execution.html", visitor, **panel_context(execution))

    @pages.get("/ui/executions/{execution_id}/panel")
    async def panel(request: Request, execution_id: str) -> Response:
        visitor = await door.viewer(request)
        execution = await services.executions.get(execution_id)
        return door.render(
            request, "partials/execution_panel.html", visitor, **panel_context(execution)
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
