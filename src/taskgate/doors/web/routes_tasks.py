"""Tasks: the list with filters, a task's page (definition, last runs with their durations,
schedules), the start form made from its declared parameters, with a preview."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from taskgate.domain.apikeys import Role
from taskgate.domain.errors import TaskgateError
from taskgate.domain.params import validate_params
from taskgate.domain.selectors import Selector, SelectorKind
from taskgate.domain.taskfilter import TaskFilter
from taskgate.doors.web.door import WebDoor
from taskgate.doors.web.forms import form_of
from taskgate.doors.web.pageroute import PageRoute
from taskgate.doors.web.starting import params_from_form, start_task

LAST_RUNS = 30


def enabled_filter(value: str) -> bool | None:
    return {"yes": True, "no": False}.get(value)


def router(door: WebDoor) -> APIRouter:
    pages = APIRouter(include_in_schema=False, route_class=PageRoute)
    services = door.services

    @pages.get("/ui/tasks")
    async def task_list(request: Request) -> Response:
        visitor = await door.viewer(request)
        query = request.query_params
        wanted = TaskFilter(
            text=query.get("q", ""),
            tag=query.get("tag", ""),
            prop=query.get("property", ""),
            kind=query.get("kind", ""),
            enabled=enabled_filter(query.get("enabled", "")),
        )
        tasks = await services.tasks.all()
        shown = [t for t in tasks if wanted.matches(t)]
        latest = await services.executions.latest_for_tasks([t.key for t in shown])
        return door.render(
            request,
            "tasks.html",
            visitor,
            tasks=shown,
            total=len(tasks),
            latest=latest,
            query=query,
            kinds=sorted({t.action.kind for t in tasks}),
            tags=sorted({tag for t in tasks for tag in t.tags}),
        )

    @pages.get("/ui/tasks/{ref}")
    async def task_page(request: Request, ref: str) -> Response:
        visitor = await door.viewer(request)
        task = await services.tasks.get(ref)
        runs = await services.executions.recent(task_id=task.key, limit=LAST_RUNS)
        schedules, _ = await services.schedules.listing(
            task=task.key, enabled=None, limit=100, offset=0
        )
        ended = [r for r in reversed(runs) if r.duration_ms is not None]
        checks = await services.checks.view(task.key)
        chains = await services.chains.of_task(task)
        band = checks.expected_duration
        chart: dict[str, Any] = {
            "x": [int(r.created_at.timestamp()) for r in ended],
            "y": [round((r.duration_ms or 0) / 1000, 3) for r in ended],
        }
        if band is not None and band.low_seconds is not None and band.high_seconds is not None:
            chart["band"] = [band.low_seconds, band.high_seconds]
        definition = task.model_dump(mode="json", exclude={"created_at", "updated_at"})
        return door.render(
            request,
            "task.html",
            visitor,
            task=task,
            runs=runs,
            schedules=schedules,
            chart=json.dumps(chart),
            definition=json.dumps(definition, indent=2),
            checks=checks,
            chains=chains,
        )

    @pages.post("/ui/tasks/{ref}/preview")
    async def preview(request: Request, ref: str) -> Response:
        visitor = await door.acting(request, Role.VIEWER)
        task = await services.tasks.get(ref)
        form = await form_of(request)
        problem = ""
        params: dict[str, Any] = {}
        try:
            params = validate_params(task.params, params_from_form(task, form))
        except TaskgateError as exc:
            problem = exc.message
        results = await services.starts.preview(
            [Selector(SelectorKind.ID, task.key)], visitor.caller
        )
        return door.render(
            request,
            "partials/start_preview.html",
            visitor,
            task=task,
            params=json.dumps(params, indent=2, sort_keys=True),
            problem=problem,
            result=results[0],
        )

    @pages.post("/ui/tasks/{ref}/start")
    async def start(request: Request, ref: str) -> Response:
        visitor = await door.acting(request, Role.OPERATOR)
        task = await services.tasks.get(ref)
        form = await form_of(request)
        result = await start_task(services, task, params_from_form(task, form), visitor.caller)
        if result.executions:
            return RedirectResponse(f"/ui/executions/{result.executions[0].id}", 303)
        reasons = [t.reason for r in result.results for t in r.tasks if t.reason]
        reasons += [r.message for r in result.results if r.message]
        return door.render(
            request,
            "error.html",
            visitor,
            status_code=409,
            status=409,
            message="Nothing started: " + ("; ".join(reasons) or "the task was skipped"),
        )

    return pages
