"""Executions: list, read, wait, log, history, abort."""

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from taskgate.core.services import Services
from taskgate.domain.executions import Execution
from taskgate.domain.history import HistoryEvent
from taskgate.domain.status import Status
from taskgate.domain.text import Instant
from taskgate.doors.api.deps import Core, Operator, PageLimit, PageOffset, Viewer

router = APIRouter(prefix="/api/v1/executions", tags=["executions"])
# How long `/wait` waits at most, and when not told.
MAX_WAIT = 3600.0
DEFAULT_WAIT = 30.0


class ExecutionList(BaseModel):
    items: list[Execution]
    next_cursor: str | None


class WaitedExecution(Execution):
    timed_out: bool


class ExecutionEvents(BaseModel):
    execution_id: str
    events: list[HistoryEvent]


class LogPage(BaseModel):
    offset: int
    next_offset: int
    data: str
    complete: bool


@router.get("", response_model=ExecutionList)
async def list_executions(
    core: Core,
    _: Viewer,
    task: str | None = None,
    status: Annotated[list[Status] | None, Query()] = None,
    origin: str | None = None,
    since: Instant | None = None,
    until: Instant | None = None,
    caller: Annotated[str | None, Query(max_length=200)] = None,
    limit: PageLimit = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    items, next_cursor = await core.executions.listing(
        task=task,
        statuses=tuple(status or ()),
        origin=origin,
        since=since,
        until=until,
        caller=caller,
        limit=limit,
        cursor=cursor,
    )
    return {"items": items, "next_cursor": next_cursor}


@router.get("/{execution_id}", response_model=Execution)
async def get_execution(execution_id: str, core: Core, _: Viewer) -> Execution:
    """One execution with its attempts; a workflow's also with its `phases` and `children`
    (its members' executions, each a tree of its own when it is a workflow); a waiting one
    says in `queue_note` when no worker listens on its route."""
    return await core.queues.annotate(await core.workflows.tree(execution_id))


@router.get("/{execution_id}/wait", response_model=WaitedExecution)
async def wait_execution(
    execution_id: str,
    core: Core,
    _: Viewer,
    timeout: Annotated[float, Query(ge=0, le=MAX_WAIT)] = DEFAULT_WAIT,
) -> WaitedExecution:
    return await waited(core, execution_id, timeout)


async def waited(core: Services, execution_id: str, timeout: float) -> WaitedExecution:
    """What `GET /{execution_id}/wait` answers: here, and on the hot path (hotpath.py)."""
    execution, timed_out = await core.executions.wait(execution_id, timeout)
    # The execution's own fields as they are (nested models too): not dumped and parsed again.
    return WaitedExecution.model_validate({**execution.__dict__, "timed_out": timed_out})


@router.get("/{execution_id}/log", response_model=LogPage)
async def read_log(
    execution_id: str,
    core: Core,
    _: Viewer,
    offset: PageOffset = 0,
    limit: Annotated[int, Query(ge=1, le=1024 * 1024)] = 65536,
) -> LogPage:
    page = await core.executions.read_log(execution_id, offset, limit)
    return LogPage(
        offset=page.offset, next_offset=page.next_offset, data=page.data, complete=page.complete
    )


@router.get("/{execution_id}/events", response_model=ExecutionEvents)
async def execution_events(execution_id: str, core: Core, _: Viewer) -> ExecutionEvents:
    """The execution's history, oldest first, told from what the store keeps of it: made,
    each attempt's start and end, retries, an abort asked, its end, the checks it broke, the
    chain rules its end fired, its webhook deliveries; a workflow's members' too."""
    events = await core.history.of(execution_id)
    return ExecutionEvents(execution_id=execution_id, events=events)


@router.post("/{execution_id}/abort", response_model=Execution)
async def abort_execution(execution_id: str, core: Core, caller: Operator) -> Execution:
    return await core.executions.abort(execution_id, caller)
