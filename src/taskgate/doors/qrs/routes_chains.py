"""QRS composite events (`/qrs/compositeevent`) and the composite events of the reload-task
bundles (`/qrs/reloadtask/create`, `/update`), kept as taskgate chain rules."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from taskgate.core.services import Services
from taskgate.domain.chains import Chain, ChainSource, ChainSpec
from taskgate.domain.errors import InvalidInput, NotFound
from taskgate.domain.selectors import normalize_task_id
from taskgate.doors.qrs.compositeevents import (
    CompositeEvents,
    event_guid,
    event_id,
    qrs_field,
    shown,
    to_spec,
)
from taskgate.doors.qrs.listing import ListQuery, count_response
from taskgate.doors.qrs.routes_tasks import caller_of, task_id_in
from taskgate.doors.qrs.wire import QrsError, json_response
from taskgate.doors.state import services_of

SOURCE: ChainSource = "qrs"


async def _body(request: Request) -> Any:
    try:
        return json.loads(await request.body() or b"null")
    except ValueError:
        raise QrsError(400, "body: not valid JSON", "body") from None


async def _renderer(services: Services, query: ListQuery) -> CompositeEvents:
    tasks = {t.key: t for t in await services.tasks.all()}
    return CompositeEvents(tasks, query.renderer.privileges)


async def _events(services: Services) -> list[Chain]:
    return [c for c in await services.chains.listing() if shown(c)]


async def _find(services: Services, guid: str) -> Chain:
    for chain in await _events(services):
        if event_guid(chain.id) == guid:
            return chain
    raise QrsError(404, f"Not found: no composite event with id {guid}", "id")


async def _full(services: Services, query: ListQuery, chains: list[Chain]) -> list[dict[str, Any]]:
    render = await _renderer(services, query)
    return [render.full(c, await services.chains.window(c.id)) for c in chains]


async def event_list(request: Request) -> Response:
    services, query = services_of(request), ListQuery.of(request)
    chains = await _events(services)
    render = await _renderer(services, query)
    full = await _full(services, query, chains)
    return json_response(query.select(full, [render.condensed(c) for c in chains]))


async def event_list_full(request: Request) -> Response:
    services, query = services_of(request), ListQuery.of(request)
    return json_response(query.select(await _full(services, query, await _events(services))))


async def event_count(request: Request) -> Response:
    services, query = services_of(request), ListQuery.of(request)
    full = await _full(services, query, await _events(services))
    return count_response(len(query.select(full)))


async def event_get(request: Request) -> Response:
    services, query = services_of(request), ListQuery.of(request)
    chain = await _find(services, task_id_in(request.path_params["id"]))
    [entity] = await _full(services, query, [chain])
    return json_response(entity)


async def _saved(request: Request, specs: list[ChainSpec], delete: list[str]) -> list[Chain]:
    try:
        return await services_of(request).chains.change(
            delete=delete, save=specs, caller=caller_of(request), source=SOURCE, missing_ok=True
        )
    except InvalidInput as exc:
        raise QrsError(400, exc.message, qrs_field(exc.field)) from None


async def event_create(request: Request) -> Response:
    services = services_of(request)
    spec = to_spec(await _body(request))
    if spec.id is not None and any(c.id == spec.id for c in await services.chains.listing()):
        raise QrsError(409, f"a composite event with id {spec.id} already exists", "id")
    if spec.id is None:
        spec = spec.model_copy(update={"id": _new_id()})
    [chain] = await _saved(request, [spec], [])
    [entity] = await _full(services, ListQuery.of(request), [chain])
    return json_response(entity, 201)


async def event_update(request: Request) -> Response:
    services = services_of(request)
    guid = task_id_in(request.path_params["id"])
    existing = await _find(services, guid)
    body = await _body(request)
    _check_modified(body, existing)
    [chain] = await _saved(request, [to_spec(body, chain_id=existing.id)], [])
    [entity] = await _full(services, ListQuery.of(request), [chain])
    return json_response(entity)


async def event_delete(request: Request) -> Response:
    services = services_of(request)
    chain = await _find(services, task_id_in(request.path_params["id"]))
    await services.chains.delete(chain.id, caller_of(request))
    return Response(status_code=204)


def _check_modified(body: Any, chain: Chain) -> None:
    """QRS refuses a change made on a stale copy: `modifiedDate` must be the stored one."""
    if not isinstance(body, Mapping) or not body.get("modifiedDate"):
        return
    full = CompositeEvents({}, None).full(chain, None)
    if body["modifiedDate"] != full["modifiedDate"]:
        raise QrsError(
            409,
            "Conflict: the composite event was changed since it was read (modifiedDate)",
            "modifiedDate",
        )


def _new_id() -> str:
    return str(uuid.uuid4())


# --- the reload-task bundles ------------------------------------------------------------


async def _bundle_task(request: Request, body: Any, *, create: bool) -> str:
    if not isinstance(body, Mapping) or not isinstance(body.get("task"), Mapping):
        raise QrsError(400, "task: the bundle must have a task object", "task")
    raw = body["task"].get("id")
    task_id = normalize_task_id(str(raw)) if raw else None
    if task_id is None:
        if create:
            raise QrsError(
                400,
                "task.id: taskgate makes no reload tasks over QRS; define the task in taskgate "
                "(config file or /api/v1/tasks) and send its id to attach composite events",
                "task.id",
            )
        raise QrsError(400, "task.id: the task to update is missing", "task.id")
    try:
        await services_of(request).tasks.get(task_id)
    except NotFound:
        raise QrsError(404, f"Not found: no reload task with id {task_id}", "task.id") from None
    if body.get("schemaEvents"):
        raise QrsError(
            400,
            "schemaEvents: time triggers are taskgate schedules (/api/v1/schedules or the "
            "config file); this door takes composite events only",
            "schemaEvents",
        )
    return task_id


async def _apply_bundle(request: Request, *, create: bool) -> Response:
    body = await _body(request)
    task_id = await _bundle_task(request, body, create=create)
    events = body.get("compositeEvents") or []
    if not isinstance(events, list):
        raise QrsError(400, "compositeEvents: must be a list", "compositeEvents")
    specs = []
    for index, event in enumerate(events):
        try:
            spec = to_spec(event, target=task_id)
        except QrsError as exc:
            field = f"compositeEvents[{index}].{exc.field}" if exc.field else None
            raise QrsError(exc.status, f"compositeEvents[{index}]: {exc.message}", field) from None
        specs.append(spec if spec.id else spec.model_copy(update={"id": _new_id()}))
    doomed = []
    for index, gone in enumerate(body.get("compositeEventsToDelete") or []):
        gone_id = event_id(gone) if isinstance(gone, Mapping) else normalize_task_id(str(gone))
        if gone_id is None:
            raise QrsError(
                400,
                "compositeEventsToDelete: each needs an id",
                f"compositeEventsToDelete[{index}]",
            )
        doomed.append(gone_id)
    await _saved(request, specs, doomed)
    services = services_of(request)
    task = await services.tasks.get(task_id)
    last = await services.executions.latest_for_tasks([task_id])
    next_slots = await services.schedules.next_slot_by_task([task_id])
    query = ListQuery.of(request)
    entity = query.renderer.task(task, last.get(task_id), next_slots.get(task_id), full=True)
    return json_response(entity, 201 if create else 200)


async def reloadtask_create(request: Request) -> Response:
    return await _apply_bundle(request, create=True)


async def reloadtask_update(request: Request) -> Response:
    return await _apply_bundle(request, create=False)
