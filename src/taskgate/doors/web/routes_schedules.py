"""Schedules: the list, a schedule's page (next fires in its own zone and the viewer's, fire
history, pause and resume), and the preview of a spec typed into a form."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from taskgate.core.schedules.specpreview import preview_spec
from taskgate.domain.apikeys import Role
from taskgate.domain.errors import InvalidInput, TaskgateError
from taskgate.doors.web.door import WebDoor
from taskgate.doors.web.forms import form_of
from taskgate.doors.web.pageroute import PageRoute
from taskgate.schedules.spec import Kind, ScheduleSpec

NEXT_FIRES = 10
# The preview form's largest count: a page of fires a person reads (the API allows more).
MAX_FIRES = 100
HISTORY = 50
SPEC_FIELDS = ("kind", "cron", "every", "unit", "event", "latitude", "longitude", "at", "timezone")


def spec_from_form(fields: dict[str, str]) -> ScheduleSpec:
    """A schedule spec from the preview form; blank fields are left out."""
    given: dict[str, Any] = {k: v.strip() for k, v in fields.items() if v.strip()}
    try:
        return ScheduleSpec.model_validate({"task": "preview", **given})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidInput(f"{where}: {first['msg']}", field=where) from None


def fire_count(value: str) -> int:
    """How many fires the preview form asks for (blank: NEXT_FIRES)."""
    if not value.strip():
        return NEXT_FIRES
    try:
        count = int(value)
    except ValueError:
        raise InvalidInput("count: a whole number", field="count") from None
    if not 1 <= count <= MAX_FIRES:
        raise InvalidInput(f"count: 1 to {MAX_FIRES}", field="count")
    return count


def router(door: WebDoor) -> APIRouter:
    pages = APIRouter(include_in_schema=False, route_class=PageRoute)
    services = door.services

    @pages.get("/ui/schedules")
    async def schedule_list(request: Request) -> Response:
        visitor = await door.viewer(request)
        items, total = await services.schedules.listing(
            task=None, enabled=None, limit=1000, offset=0
        )
        return door.render(
            request,
            "schedules.html",
            visitor,
            items=items,
            total=total,
            kinds=list(Kind),
            fires_shown=NEXT_FIRES,
            max_fires=MAX_FIRES,
        )

    @pages.post("/ui/schedules/preview")
    async def spec_preview(request: Request) -> Response:
        visitor = await door.acting(request, Role.VIEWER)
        form = await form_of(request)
        fields = {name: form.get(name) for name in SPEC_FIELDS}
        fires, problem = [], ""
        try:
            fires = await preview_spec(spec_from_form(fields), fire_count(form.get("count")))
        except TaskgateError as exc:
            problem = exc.message
        return door.render(
            request, "partials/fires.html", visitor, fires=fires, problem=problem, zone=fields
        )

    @pages.get("/ui/schedules/{schedule_id}")
    async def schedule_page(request: Request, schedule_id: str) -> Response:
        visitor = await door.viewer(request)
        schedule = await services.schedules.get(schedule_id)
        fires = await services.schedules.preview(schedule_id, count=NEXT_FIRES)
        history = await services.schedules.history(schedule_id, limit=HISTORY)
        return door.render(
            request,
            "schedule.html",
            visitor,
            s=schedule,
            fires=fires,
            history=history,
            spec=schedule.model_dump_json(indent=2),
        )

    @pages.post("/ui/schedules/{schedule_id}/{action}")
    async def pause_or_resume(request: Request, schedule_id: str, action: str) -> Response:
        visitor = await door.acting(request, Role.OPERATOR)
        if action == "pause":
            await services.schedules.pause(schedule_id, visitor.caller)
        elif action == "resume":
            await services.schedules.resume(schedule_id, visitor.caller)
        else:
            raise InvalidInput(f"{action!r}: pause or resume", field="action")
        return RedirectResponse(f"/ui/schedules/{schedule_id}", 303)

    return pages
