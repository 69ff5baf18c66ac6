"""Schedules: list, read, create, replace, delete, pause, resume, preview, history."""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel

from taskgate.core.schedules.service import MAX_PREVIEW
from taskgate.domain.text import MAX_INT32, Instant
from taskgate.doors.api.deps import Admin, Core, Operator, PageLimit, PageOffset, Viewer
from taskgate.schedules.spec import SCHEDULE_ID_PATTERN, Fire, HistoryEntry, Schedule, ScheduleSpec

router = APIRouter(prefix="/api/v1/schedules", tags=["schedules"])
ScheduleId = Annotated[str, Path(pattern=SCHEDULE_ID_PATTERN)]


class ScheduleList(BaseModel):
    items: list[Schedule]
    total: int


class FireList(BaseModel):
    items: list[Fire]


class HistoryList(BaseModel):
    items: list[HistoryEntry]


@router.get("", response_model=ScheduleList)
async def list_schedules(
    core: Core,
    _: Viewer,
    task: str | None = None,
    enabled: bool | None = None,
    limit: PageLimit = 100,
    offset: PageOffset = 0,
) -> dict[str, Any]:
    items, total = await core.schedules.listing(
        task=task, enabled=enabled, limit=limit, offset=offset
    )
    return {"items": items, "total": total}


@router.post("", status_code=201, response_model=Schedule)
async def create_schedule(spec: ScheduleSpec, core: Core, caller: Admin) -> Schedule:
    return await core.schedules.create(spec, caller)


@router.get("/{schedule_id}", response_model=Schedule)
async def get_schedule(schedule_id: ScheduleId, core: Core, _: Viewer) -> Schedule:
    return await core.schedules.get(schedule_id)


@router.put("/{schedule_id}", response_model=Schedule, responses={201: {"model": Schedule}})
async def put_schedule(
    schedule_id: ScheduleId, spec: ScheduleSpec, core: Core, caller: Admin, response: Response
) -> Schedule:
    schedule, created = await core.schedules.put(schedule_id, spec, caller)
    response.status_code = 201 if created else 200
    return schedule


@router.delete("/{schedule_id}", status_code=204)
async def delete_schedule(schedule_id: ScheduleId, core: Core, caller: Admin) -> Response:
    await core.schedules.delete(schedule_id, caller)
    return Response(status_code=204)


@router.post("/{schedule_id}/pause", response_model=Schedule)
async def pause_schedule(schedule_id: ScheduleId, core: Core, caller: Operator) -> Schedule:
    return await core.schedules.pause(schedule_id, caller)


@router.post("/{schedule_id}/resume", response_model=Schedule)
async def resume_schedule(schedule_id: ScheduleId, core: Core, caller: Operator) -> Schedule:
    return await core.schedules.resume(schedule_id, caller)


@router.get("/{schedule_id}/next", response_model=FireList)
async def next_fires(
    schedule_id: ScheduleId,
    core: Core,
    _: Viewer,
    count: Annotated[int, Query(ge=1, le=MAX_PREVIEW)] = 10,
    after: Instant | None = None,
) -> dict[str, Any]:
    return {"items": await core.schedules.preview(schedule_id, count=count, after=after)}


@router.get("/{schedule_id}/history", response_model=HistoryList)
async def history(
    schedule_id: ScheduleId,
    core: Core,
    _: Viewer,
    limit: PageLimit = 100,
    before: Annotated[
        int | None, Query(ge=1, le=MAX_INT32, description="Entries older than this id.")
    ] = None,
) -> dict[str, Any]:
    return {"items": await core.schedules.history(schedule_id, limit=limit, before=before)}
