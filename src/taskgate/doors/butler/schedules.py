"""Butler's `/v4/schedules` over the core's scheduler (which honours `timezone`)."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from taskgate.core.clock import utcnow
from taskgate.core.schedules.service import SchedulerService
from taskgate.domain.errors import NotFound
from taskgate.doors.butler.guard import CALLER_KEY
from taskgate.doors.butler.wire import (
    ButlerError,
    as_string,
    has_body,
    json_response,
    read_body,
    text_json,
    validation_error,
)
from taskgate.doors.state import services_of
from taskgate.schedules.spec import Kind, Misfire, Schedule, ScheduleSpec

STARTUP_STATES = ("start", "started", "stop", "stopped")
REQUIRED = ("name", "cronSchedule", "timezone", "qlikSenseTaskId", "startupState")


def _scheduler(request: Request) -> SchedulerService:
    return services_of(request).schedules


def _js_time(schedule: Schedule) -> str:
    """`Date.prototype.toISOString()`: milliseconds and a Z."""
    stamp = schedule.created_at.astimezone(UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def butler_schedule(schedule: Schedule) -> dict[str, Any]:
    butler = schedule.meta.get("butler", {})
    state = "started" if schedule.enabled else "stopped"
    return {
        "id": schedule.id,
        "created": butler.get("created") or _js_time(schedule),
        "name": schedule.name,
        "cronSchedule": schedule.cron,
        "timezone": schedule.timezone,
        "qlikSenseTaskId": schedule.task,
        "startupState": butler.get("startupState", state),
        "tags": schedule.tags,
        "lastKnownState": state,
    }


async def _cron_schedules(request: Request) -> list[dict[str, Any]]:
    """Every cron schedule: the only kind Butler's shape can show."""
    found, _ = await _scheduler(request).listing(limit=10**9)
    return [butler_schedule(s) for s in found if s.kind is Kind.CRON]


async def list_or_get(request: Request) -> Response:
    schedule_id = request.query_params.get("id")
    if schedule_id is None:
        return json_response(await _cron_schedules(request))
    try:
        schedule = await _scheduler(request).get(schedule_id)
    except NotFound:
        raise ButlerError(400, f"REST SCHEDULER: Schedule ID {schedule_id} not found.") from None
    return text_json([butler_schedule(schedule)])


def _spec(body: Any) -> ScheduleSpec:
    if not has_body(body) or not isinstance(body, dict):
        raise validation_error("body must be object")
    for name in REQUIRED:
        if body.get(name) is None:
            raise validation_error(f"body must have required property '{name}'")
    fields = {name: as_string(body[name], f"body/{name}") for name in REQUIRED}
    if fields["startupState"] not in STARTUP_STATES:
        raise validation_error("body/startupState must be equal to one of the allowed values")
    tags = body.get("tags") or []
    if not isinstance(tags, list):
        raise validation_error("body/tags must be array")
    started = fields["startupState"] in ("start", "started")
    created = utcnow().isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return ScheduleSpec.model_validate(
        {
            "name": fields["name"],
            "task": fields["qlikSenseTaskId"],
            "kind": Kind.CRON,
            "cron": fields["cronSchedule"],
            "timezone": fields["timezone"],
            "enabled": started,
            "tags": [as_string(t, f"body/tags/{i}") for i, t in enumerate(tags)],
            # Butler's cron never runs what it missed while down.
            "misfire": Misfire.SKIP,
            "meta": {"butler": {"startupState": fields["startupState"], "created": created}},
        }
    )


async def create(request: Request) -> Response:
    spec = _spec(await read_body(request))
    schedule = await _scheduler(request).create(spec, request.scope["state"][CALLER_KEY])
    return text_json(butler_schedule(schedule), status=201)


async def delete(request: Request) -> Response:
    schedule_id = request.path_params["scheduleId"]
    try:
        await _scheduler(request).delete(schedule_id, request.scope["state"][CALLER_KEY])
    except NotFound:
        raise ButlerError(
            400, f"REST SCHEDULER: Delete for schedule ID {schedule_id} failed."
        ) from None
    return Response(status_code=204)


async def _switch(request: Request, started: bool) -> Response:
    schedule_id = request.path_params["scheduleId"]
    scheduler, caller = _scheduler(request), request.scope["state"][CALLER_KEY]
    try:
        schedule = await (scheduler.resume if started else scheduler.pause)(schedule_id, caller)
    except NotFound:
        verb = "starting" if started else "stopping"
        raise ButlerError(
            400, f"REST SCHEDULER: Failed {verb} schedule ID {schedule_id}."
        ) from None
    return text_json([butler_schedule(schedule)])


async def start(request: Request) -> Response:
    return await _switch(request, True)


async def stop(request: Request) -> Response:
    return await _switch(request, False)


async def _switch_all(request: Request, started: bool) -> Response:
    caller = request.scope["state"][CALLER_KEY]
    await _scheduler(request).set_all_enabled(started, caller, kind=Kind.CRON)
    return text_json(await _cron_schedules(request))


async def start_all(request: Request) -> Response:
    return await _switch_all(request, True)


async def stop_all(request: Request) -> Response:
    return await _switch_all(request, False)


async def status(request: Request) -> Response:
    """cron-job-manager's `listCrons()` text, which Butler sends as it is."""
    lines = [
        f"'{s['id']}': {s['cronSchedule']} status: "
        f"{'Running' if s['lastKnownState'] == 'started' else 'Stopped'} \n"
        for s in await _cron_schedules(request)
    ]
    return Response("{\n" + "".join(lines) + "}", media_type="text/plain; charset=utf-8")
