"""QRS task endpoints: start and stop (by id, by name, many), lists, counts, one reload task."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from taskgate.core.starts.request import StartRequest
from taskgate.domain.executions import Caller
from taskgate.domain.qrsenums import EMPTY_GUID
from taskgate.domain.selectors import (
    MAX_SELECTORS,
    Selector,
    SelectorKind,
    SelectorOutcome,
    normalize_task_id,
)
from taskgate.domain.started import SkippedStart, start_succeeded
from taskgate.domain.tasks import Task
from taskgate.doors.qrs.guard import CALLER_KEY
from taskgate.doors.qrs.listing import ListQuery, count_response
from taskgate.doors.qrs.wire import QrsError, json_response
from taskgate.doors.state import services_of

ORIGIN = "qrs"
# Task ids in one start/many or stop/many body: as many as one start may name.
MAX_MANY = MAX_SELECTORS


def caller_of(request: Request) -> Caller:
    caller: Caller = request.scope["state"][CALLER_KEY]
    return caller


def task_id_in(value: str, field: str = "id") -> str:
    task_id = normalize_task_id(value)
    if task_id is None:
        raise QrsError(400, f"{field}: {value!r} is not a GUID", field)
    return task_id


async def _start(request: Request, task_ids: list[str]) -> list[str | None]:
    """Start each task; per task the new session id, or None when it did not start."""
    result = await services_of(request).starts.start(
        StartRequest(
            selectors=[Selector(SelectorKind.ID, task_id) for task_id in task_ids],
            origin=ORIGIN,
            caller=caller_of(request),
            all_must_exist=True,
        )
    )
    missing = [
        r.selector.split(":", 1)[-1] for r in result.results if r.outcome != SelectorOutcome.MATCHED
    ]
    if missing:
        raise QrsError(404, f"Cannot find the task(s) with the following id: {', '.join(missing)}")
    sessions: list[str | None] = []
    for entry in result.results:
        task = entry.tasks[0]
        # QRS has no session for a start the overlap policy skipped (a run in progress).
        ran = start_succeeded(
            task.execution_id, task.status, skipped=SkippedStart.COUNTS_AS_NOT_STARTED
        )
        sessions.append(task.execution_id if ran else None)
    return sessions


def _session_answer(session: str | None) -> Response:
    # QRS answers 201 with the empty GUID when the task cannot start (disabled, ...).
    return json_response({"value": session or EMPTY_GUID}, 201)


async def start(request: Request) -> Response:
    await _start(request, [task_id_in(request.path_params["id"])])
    return Response(status_code=204)


async def start_synchronous(request: Request) -> Response:
    (session,) = await _start(request, [task_id_in(request.path_params["id"])])
    return _session_answer(session)


async def _by_name(request: Request) -> str:
    name = request.query_params.get("name")
    if not name:
        raise QrsError(400, "name: the query parameter is required", "name")
    found = await services_of(request).tasks.find(
        Selector(SelectorKind.NAME, name, ignore_case=True)
    )
    if not found:
        raise QrsError(400, f"Cannot find a task with the following name: {name}", "name")
    if len(found) > 1:
        ids = ", ".join(t.key for t in found)
        raise QrsError(400, f"Several tasks have the name {name!r} ({ids}); start by id", "name")
    return found[0].key


async def start_by_name(request: Request) -> Response:
    await _start(request, [await _by_name(request)])
    return Response(status_code=204)


async def start_by_name_synchronous(request: Request) -> Response:
    (session,) = await _start(request, [await _by_name(request)])
    return _session_answer(session)


async def _id_list(request: Request) -> list[str]:
    try:
        body: Any = json.loads(await request.body() or b"null")
    except (ValueError, RecursionError):  # RecursionError: nested too deep
        raise QrsError(400, "body: not JSON; send an array of task GUIDs", "body") from None
    if not isinstance(body, list) or not all(isinstance(i, str) for i in body):
        raise QrsError(400, "body: send a JSON array of task GUID strings", "body")
    if len(body) > MAX_MANY:
        raise QrsError(400, f"body: at most {MAX_MANY} task ids at once", "body")
    return list(dict.fromkeys(task_id_in(i, "body") for i in body))


async def start_many(request: Request) -> Response:
    task_ids = await _id_list(request)
    if task_ids:
        await _start(request, task_ids)
    return Response(status_code=204)


async def _stop(request: Request, task_ids: list[str]) -> None:
    await services_of(request).executions.abort_tasks(task_ids, caller_of(request))


async def stop(request: Request) -> Response:
    await _stop(request, [task_id_in(request.path_params["id"])])
    return Response(status_code=204)


async def stop_many(request: Request) -> Response:
    await _stop(request, await _id_list(request))
    return Response(status_code=204)


async def _rendered(
    request: Request, query: ListQuery, *, full: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(full entities to filter on, entities to answer) for the tasks the filter may keep."""
    services = services_of(request)
    tasks: list[Task] = await services.tasks.all()
    pinned = query.pinned("id")
    if pinned is not None:
        tasks = [t for t in tasks if t.key in pinned]
    ids = [t.key for t in tasks]
    last = await services.executions.latest_for_tasks(ids)
    next_slots = await services.schedules.next_slot_by_task(ids)
    render = query.renderer.task
    entities = [render(t, last.get(t.key), next_slots.get(t.key), full=True) for t in tasks]
    if full:
        return entities, entities
    shown = [render(t, last.get(t.key), next_slots.get(t.key), full=False) for t in tasks]
    return entities, shown


async def task_list(request: Request) -> Response:
    query = ListQuery.of(request)
    entities, shown = await _rendered(request, query, full=False)
    return json_response(query.select(entities, shown))


async def task_list_full(request: Request) -> Response:
    query = ListQuery.of(request)
    entities, _ = await _rendered(request, query, full=True)
    return json_response(query.select(entities))


async def task_count(request: Request) -> Response:
    query = ListQuery.of(request)
    entities, _ = await _rendered(request, query, full=True)
    return count_response(len(query.select(entities)))


async def reloadtask_get(request: Request) -> Response:
    task_id = task_id_in(request.path_params["id"])
    services = services_of(request)
    task = await services.tasks.get(task_id)
    last = await services.executions.latest_for_tasks([task.key])
    next_slots = await services.schedules.next_slot_by_task([task.key])
    query = ListQuery.of(request)
    entity = query.renderer.task(task, last.get(task.key), next_slots.get(task.key), full=True)
    return json_response(entity)
