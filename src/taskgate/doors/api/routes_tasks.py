"""Tasks: list, read, create, replace, delete."""

import uuid
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel

from taskgate.domain.tasks import Task, TaskSpec
from taskgate.doors.api.deps import Admin, Core, PageLimit, PageOffset, Viewer

router = APIRouter(prefix="/api/v1/tasks", tags=["tasks"])


class TaskList(BaseModel):
    items: list[Task]
    total: int


@router.get("", response_model=TaskList)
async def list_tasks(
    core: Core,
    _: Viewer,
    tag: str | None = None,
    enabled: bool | None = None,
    limit: PageLimit = 100,
    offset: PageOffset = 0,
) -> dict[str, Any]:
    items, total = await core.tasks.listing(tag=tag, enabled=enabled, limit=limit, offset=offset)
    return {"items": items, "total": total}


@router.post("", status_code=201, response_model=Task)
async def create_task(spec: TaskSpec, core: Core, caller: Admin) -> Task:
    return await core.tasks.create(spec, caller)


@router.get("/{ref}", response_model=Task)
async def get_task(ref: str, core: Core, _: Viewer) -> Task:
    return await core.tasks.get(ref)


@router.put("/{task_id}", response_model=Task, responses={201: {"model": Task}})
async def put_task(
    task_id: uuid.UUID, spec: TaskSpec, core: Core, caller: Admin, response: Response
) -> Task:
    task, created = await core.tasks.put(task_id, spec, caller)
    response.status_code = 201 if created else 200
    return task


@router.delete("/{ref}", status_code=204)
async def delete_task(ref: str, core: Core, caller: Admin) -> Response:
    await core.tasks.delete(ref, caller)
    return Response(status_code=204)
