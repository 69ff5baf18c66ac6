"""add_scheduled_walker, add_scheduled_sequence, get_scheduled_queues, delete_scheduled_queue
(§5 of the reference), over taskgate's schedules and tasks."""

from __future__ import annotations

import contextlib
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from taskgate.core.services import Services
from taskgate.core.visible import VisibleExecutions
from taskgate.domain.errors import InvalidInput, NotFound
from taskgate.domain.tasks import TaskSpec
from taskgate.doors.jaseci.schedulejson import BadSchedule, jaseci_schedule, schedule_fields
from taskgate.doors.jaseci.walkers import caller_of, task_id_for
from taskgate.doors.jaseci.wire import context_of, parameters
from taskgate.schedules.spec import Schedule, ScheduleSpec

META = "jaseci"


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _name(params: dict[str, Any]) -> str:
    name = params.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise InvalidInput("name: 1-200 characters", field="name")
    return name.strip()


def _body(params: dict[str, Any]) -> dict[str, Any]:
    body = params.get("body", {})
    if not isinstance(body, dict):
        raise InvalidInput("body must be an object", field="body")
    return body


async def _create_schedule(services: Services, request: Request, spec: ScheduleSpec) -> Schedule:
    try:
        return await services.schedules.create(spec, caller_of(request))
    except BadSchedule:
        raise
    except InvalidInput as exc:
        # A cron field or zone that does not parse: still the schedule's fault, still 400.
        where = f"schedule.{exc.field}" if exc.field else "schedule"
        raise BadSchedule(exc.message, field=where) from None


async def add_scheduled_walker(request: Request) -> Response:
    services = _services(request)
    params = await parameters(request)
    name = _name(params)
    fields = schedule_fields(params.get("schedule"))
    body = _body(params)
    walker = body.get("wlk", "init")
    task_id = await task_id_for(services, walker, caller_of(request), "body.wlk")
    spec = ScheduleSpec(
        name=name,
        task=task_id,
        params=context_of(body.get("ctx")),
        meta={META: {"type": "walker", "kwargs": body}},
        **fields,
    )
    schedule = await _create_schedule(services, request, spec)
    return JSONResponse(
        {"success": True, "response": "Scheduled Walker created successfully!", "id": schedule.id}
    )


async def add_scheduled_sequence(request: Request) -> Response:
    services = _services(request)
    params = await parameters(request)
    name = _name(params)
    fields = schedule_fields(params.get("schedule"))  # a bad schedule creates nothing
    body = _body(params)
    try:
        task_spec = TaskSpec.model_validate({"name": name, "action": {"kind": "sequence", **body}})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"][2:])  # past action.sequence
        raise InvalidInput(first["msg"], field=f"body.{where}" if where else "body") from None
    caller = caller_of(request)
    task = await services.tasks.create(task_spec, caller)
    spec = ScheduleSpec(
        name=name, task=task.key, meta={META: {"type": "sequence", "kwargs": body}}, **fields
    )
    try:
        schedule = await _create_schedule(services, request, spec)
    except Exception:
        await services.tasks.delete(task.key, caller)  # nothing half made
        raise
    return JSONResponse(
        {
            "success": True,
            "response": "Scheduled Sequence created successfully!",
            "id": schedule.id,
            "task_id": task.key,
        }
    )


def _number(params: dict[str, Any], name: str, default: int) -> int:
    raw = params.get(name, default)
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise InvalidInput(f"{name} is a whole number", field=name) from None
    if value < 0:
        raise InvalidInput(f"{name} is 0 or more", field=name)
    return value


async def get_scheduled_queues(request: Request) -> Response:
    params = await parameters(request)
    limit = min(_number(params, "limit", 10), 1000)
    offset = _number(params, "offset", 0)
    asc = params.get("asc") in (True, "true", "True", "1")
    search = params.get("search")
    found, _ = await _services(request).schedules.listing(limit=10**6)
    # A key with an allow-list sees the schedules of its tasks only.
    visible: VisibleExecutions = request.app.state.visible
    mine = await visible.allowed_task_ids({s.task for s in found}, caller_of(request))
    found = [s for s in found if s.task in mine]
    if isinstance(search, str) and search:
        found = [s for s in found if search.lower() in s.name.lower()]
    found.sort(key=lambda s: s.name, reverse=not asc)
    return JSONResponse([_listed(s) for s in found[offset : offset + limit]])


def _listed(schedule: Schedule) -> dict[str, Any]:
    meta = schedule.meta.get(META, {})
    kwargs = meta.get("kwargs") or {
        "wlk": schedule.task_name or schedule.task,
        "ctx": schedule.params,
    }
    return {
        "id": schedule.id,
        "name": schedule.name,
        "schedule": jaseci_schedule(schedule),
        "kwargs": kwargs,
    }


async def delete_scheduled_queue(request: Request) -> Response:
    services = _services(request)
    params = await parameters(request)
    schedule_id = str(params.get("id", "")).strip()
    caller = caller_of(request)
    gone = NotFound(f"Scheduled Queue with id({schedule_id}) is not existing!", field="id")
    try:
        existing = await services.schedules.get(schedule_id)
    except NotFound:
        raise gone from None
    visible: VisibleExecutions = request.app.state.visible
    if not await visible.allowed_task_ids({existing.task}, caller):
        raise gone
    try:
        schedule = await services.schedules.delete(schedule_id, caller)
    except NotFound:
        raise gone from None
    if schedule.meta.get(META, {}).get("type") == "sequence":
        # The task was made for this schedule alone.
        with contextlib.suppress(NotFound):
            await services.tasks.delete(schedule.task, caller)
    return JSONResponse({"success": True, "response": "Successfully deleted!"})
