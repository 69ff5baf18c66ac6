"""walker_run, walker_queue_check, walker_queue_wait (§3-§4 of the reference)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from taskgate.core.services import Services
from taskgate.core.starts.request import StartRequest
from taskgate.core.visible import VisibleExecutions
from taskgate.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from taskgate.domain.executions import Caller, Execution
from taskgate.domain.selectors import SelectorOutcome, parse_selector
from taskgate.domain.status import Status
from taskgate.doors.jaseci.guard import CALLER_KEY
from taskgate.doors.jaseci.wire import (
    context_of,
    is_true,
    parameters,
    queue_state,
    report,
    timeout_of,
)

ORIGIN = "jaseci"
DEFAULT_WAIT = 30.0
LONGEST_WAIT = 3600.0


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _visible(request: Request) -> VisibleExecutions:
    visible: VisibleExecutions = request.app.state.visible
    return visible


def caller_of(request: Request) -> Caller:
    caller: Caller = request.scope["state"][CALLER_KEY]
    return caller


async def task_id_for(services: Services, name: Any, caller: Caller, field: str) -> str:
    """The one task a walker name (a label, a name or an id) stands for."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("the walker: a task label or name", field=field)
    (found,) = await services.starts.preview([parse_selector(name)], caller)
    if found.outcome is SelectorOutcome.DENIED:
        raise Forbidden(found.message or f"{name!r} is not on this key's list", field=field)
    if found.outcome is not SelectorOutcome.MATCHED or not found.tasks:
        raise NotFound(found.message or f"no task is called {name!r}", field=field)
    if len(found.tasks) > 1:
        raise Conflict(f"{len(found.tasks)} tasks are called {name!r}: use a label", field=field)
    return found.tasks[0].task_id


async def walker_run(request: Request) -> Response:
    params = await parameters(request)
    context = context_of(params.get("ctx"))
    return await _run(request, params.get("name"), "name", context, is_true(params.get("is_async")))


async def walker_callback(request: Request) -> Response:
    """`/js_public/walker_callback/{nd}/{wlk}?key=…`: a URL to hand a third party's webhook.
    The walker is a task label, name or id; the body's fields are its parameters (Jaseci gave
    the payload to the walker as its context); `nd` names a graph node, which taskgate has not."""
    params = await parameters(request)
    is_async = is_true(params.pop("is_async", None))
    params.pop("key", None)  # the door key, read by the guard, is no parameter
    return await _run(request, request.path_params["wlk"], "wlk", params, is_async)


async def _run(
    request: Request, name: Any, field: str, context: dict[str, Any], is_async: bool
) -> Response:
    services = _services(request)
    caller = caller_of(request)
    task_id = await task_id_for(services, name, caller, field)
    started = await services.starts.start(
        StartRequest(
            [parse_selector(f"id:{task_id}")],
            origin=ORIGIN,
            caller=caller,
            params=context,
        )
    )
    if not started.executions:
        outcome = started.results[0]
        reasons = [t.reason for t in outcome.tasks if t.reason] or [outcome.message]
        raise Conflict(f"not started: {'; '.join(r for r in reasons if r)}", field=field)
    execution_id = started.executions[0].id
    if is_async:
        return JSONResponse({"is_queued": True, "result": execution_id})
    execution, timed_out = await services.executions.wait(execution_id, request.app.state.sync_wait)
    if timed_out:
        # Still running: answer as a queued walker, so the client can check or wait on it.
        return JSONResponse({"is_queued": True, "result": execution_id})
    return JSONResponse(report(execution))


def _task_id(params: dict[str, Any]) -> str | None:
    raw = params.get("task_id")
    return raw.strip() if isinstance(raw, str) and raw.strip() else None


async def walker_queue_check(request: Request) -> Response:
    params = await parameters(request)
    task_id = _task_id(params)
    if task_id is None:
        return JSONResponse(await _queues(request))
    execution = await _visible(request).get(task_id, caller_of(request))
    return JSONResponse(queue_state(execution))


async def walker_queue_wait(request: Request) -> Response:
    params = await parameters(request)
    task_id = _task_id(params)
    if task_id is None:
        raise InvalidInput("Task id is required!", field="task_id")
    timeout = timeout_of(params.get("timeout"), DEFAULT_WAIT, LONGEST_WAIT)
    execution, _ = await _visible(request).wait(task_id, caller_of(request), timeout)
    return JSONResponse(queue_state(execution))


async def _queues(request: Request) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Taskgate's own queue in Celery inspect's shape: running → active, waiting → reserved,
    waiting for a retry's time → scheduled; per node."""
    here = _services(request).ctx.node
    queues: dict[str, dict[str, list[dict[str, Any]]]] = {
        "scheduled": {here: []},
        "active": {here: []},
        "reserved": {here: []},
    }
    for execution in await _visible(request).unfinished(caller_of(request)):
        node = execution.node or here
        item = _item(execution, node)
        if execution.status is Status.RETRY:
            queues["scheduled"].setdefault(node, []).append(
                {"eta": None, "priority": 0, "request": item}
            )
        elif execution.status.value in ("started", "abort_initiated", "aborting"):
            queues["active"].setdefault(node, []).append(item)
        else:
            queues["reserved"].setdefault(node, []).append(item)
    return queues


def _item(execution: Execution, node: str) -> dict[str, Any]:
    started = execution.started_at.timestamp() if execution.started_at else None
    return {
        "id": execution.id,
        "name": execution.task_name,
        "args": [],
        "kwargs": execution.params,
        "type": "taskgate.execution",
        "hostname": node,
        "time_start": started,
        "acknowledged": True,
        "delivery_info": {"origin": execution.origin, "task_id": execution.task_id},
        "worker_pid": None,
    }
