"""QRS execution sessions (runs in progress) and execution results (one per attempt)."""

from __future__ import annotations

import contextlib
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from taskgate.domain.errors import NotFound
from taskgate.domain.executions import Execution
from taskgate.domain.selectors import normalize_task_id
from taskgate.doors.qrs.listing import ListQuery, count_response
from taskgate.doors.qrs.results import ResultView, result_candidates, results_of
from taskgate.doors.qrs.routes_tasks import task_id_in
from taskgate.doors.qrs.wire import QrsError, json_response
from taskgate.doors.state import services_of

# The most of one execution's log a script-log download returns.
LOG_READ_CHARS = 16 * 1024 * 1024


async def _sessions(request: Request, query: ListQuery, *, full: bool) -> list[dict[str, Any]]:
    services = services_of(request)
    running = await services.executions.unfinished()
    pinned = query.pinned("id")
    if pinned is not None:
        running = [e for e in running if e.id in pinned]
    tasks = {t.key: t for t in await services.tasks.all()} if full else {}
    entities = [query.renderer.session(e, tasks.get(e.task_id), full=True) for e in running]
    if full:
        return query.select(entities)
    shown = [query.renderer.session(e, None, full=False) for e in running]
    return query.select(entities, shown)


async def session_list(request: Request) -> Response:
    return json_response(await _sessions(request, ListQuery.of(request), full=False))


async def session_list_full(request: Request) -> Response:
    return json_response(await _sessions(request, ListQuery.of(request), full=True))


async def session_count(request: Request) -> Response:
    return count_response(len(await _sessions(request, ListQuery.of(request), full=False)))


async def session_get(request: Request) -> Response:
    services = services_of(request)
    session_id = normalize_task_id(request.path_params["id"])
    try:
        execution = await services.executions.get(session_id or "")
    except NotFound:
        execution = None
    # QRS deletes a session when its run ends: 404 is how pollers learn it has finished.
    if execution is None or execution.status.is_terminal:
        raise QrsError(404, "Cannot find the execution session", "id")
    task = None
    with contextlib.suppress(NotFound):  # a session outlives a task deleted meanwhile
        task = await services.tasks.get(execution.task_id)
    return json_response(ListQuery.of(request).renderer.session(execution, task, full=True))


async def _executions_for_results(request: Request, query: ListQuery) -> list[Execution]:
    """The executions whose results the filter can keep: the pinned ones if it pins
    executions, results or a task, else the newest `result_history`."""
    services = services_of(request)
    by_execution = query.pinned("executionID")
    by_result = query.pinned("id")
    if by_execution is not None or by_result is not None:
        wanted = set(by_execution or ())
        for rid in by_result or ():
            wanted.update(result_candidates(rid))
        return await services.executions.get_many(wanted)
    limit: int = request.app.state.result_history
    by_task = query.pinned("taskID")
    if by_task is not None:
        found: list[Execution] = []
        for task_id in sorted(by_task):
            found += await services.executions.recent(task_id=task_id, limit=limit)
        return found
    return await services.executions.recent(limit=limit)


async def _results(request: Request, *, full: bool) -> list[dict[str, Any]]:
    query = ListQuery.of(request)
    views = [v for e in await _executions_for_results(request, query) for v in results_of(e)]
    render = query.renderer.result
    entities = [render(v, full=True) for v in views]
    if full:
        return query.select(entities)
    return query.select(entities, [render(v, full=False) for v in views])


async def result_list(request: Request) -> Response:
    return json_response(await _results(request, full=False))


async def result_list_full(request: Request) -> Response:
    return json_response(await _results(request, full=True))


async def result_count(request: Request) -> Response:
    return count_response(len(await _results(request, full=False)))


async def _result_view(request: Request, rid: str) -> ResultView:
    candidates = result_candidates(rid)
    for execution in await services_of(request).executions.get_many(candidates):
        for view in results_of(execution):
            if view.id == rid.lower():
                return view
    raise QrsError(404, "Cannot find the execution result", "id")


async def result_get(request: Request) -> Response:
    view = await _result_view(request, request.path_params["id"])
    return json_response(ListQuery.of(request).renderer.result(view, full=True))


async def scriptlog_reference(request: Request) -> Response:
    """`reloadtask/{id}/scriptlogfile?executionResultId=`: a reference to download the log by."""
    task_id = task_id_in(request.path_params["id"])
    rid = next(
        (v for k, v in request.query_params.items() if k.lower() == "executionresultid"), None
    )
    if not rid:
        raise QrsError(
            400, "executionResultId: the query parameter is required", "executionResultId"
        )
    view = await _result_view(request, rid)
    if view.execution.task_id != task_id:
        raise QrsError(404, "Cannot find the execution result for this task", "executionResultId")
    if view.execution.log_size == 0:
        raise QrsError(404, "No script log for this execution result", "executionResultId")
    return json_response({"value": view.id})


async def scriptlog_download(request: Request) -> Response:
    """The whole log of the execution a reference (a result id) belongs to, as text."""
    view = await _result_view(request, request.path_params["ref"])
    if not view.execution.status.is_terminal:
        raise QrsError(404, "The script log is not available until the run has ended", "ref")
    piece = await services_of(request).executions.read_log(view.execution.id, 0, LOG_READ_CHARS)
    # QRS serves script logs with Windows line endings.
    text = piece.data.replace("\r\n", "\n").replace("\n", "\r\n")
    return Response(text, 200, media_type="text/plain; charset=utf-8")
