"""Starting tasks by selectors, and previewing what a start would do."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Response
from pydantic import BaseModel, Field

from taskgate.core.services import Services
from taskgate.core.starts.request import PreviewResult, StartRequest, StartResult
from taskgate.domain.checks import Checks
from taskgate.domain.errors import Forbidden
from taskgate.domain.executions import Caller
from taskgate.domain.model import Strict
from taskgate.domain.selectors import (
    MAX_SELECTORS,
    Selector,
    SelectorKind,
    SelectorOutcome,
    parse_selector,
)
from taskgate.doors.api.deps import Core, Operator, Viewer

router = APIRouter(prefix="/api/v1", tags=["start"])
MAX_WAIT = 3600.0
IDEMPOTENCY_KEY_MAX = 200
IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", max_length=IDEMPOTENCY_KEY_MAX)
]
# Set on the answer to a start whose Idempotency-Key was used before: the first answer, again.
REPLAYED_HEADER = "Idempotency-Replayed"


# The doors that speak the native API for their users: `taskgate` (the CLI, through the
# Python client) says so, so that `executions list --origin cli` finds its starts. Only these
# may be claimed; the other origins belong to doors and triggers of their own.
ApiOrigin = Annotated[
    Literal["api", "cli"],
    Field(description="`cli` for starts made by the taskgate command line."),
]


class StartBody(Strict):
    selectors: list[str] = Field(..., min_length=1, max_length=MAX_SELECTORS)
    params: dict[str, Any] = Field(default_factory=dict)
    wait: float = Field(0, ge=0, le=MAX_WAIT)
    all_must_exist: bool = False
    checks: Checks | None = Field(None, description="Instead of each task's checks.")
    origin: ApiOrigin = "api"


class TaskStartBody(Strict):
    params: dict[str, Any] = Field(default_factory=dict)
    wait: float = Field(0, ge=0, le=MAX_WAIT)
    checks: Checks | None = Field(None, description="Instead of the task's checks.")
    origin: ApiOrigin = "api"


class PreviewBody(Strict):
    selectors: list[str] = Field(..., min_length=1, max_length=MAX_SELECTORS)


class PreviewList(BaseModel):
    results: list[PreviewResult]


async def _start(
    core: Services,
    caller: Caller,
    selectors: list[Selector],
    params: dict[str, Any],
    wait: float,
    all_must_exist: bool,
    key: str | None,
    checks: Checks | None = None,
    origin: ApiOrigin = "api",
) -> StartResult:
    request = StartRequest(
        selectors=selectors,
        origin=origin,
        caller=caller,
        params=params,
        all_must_exist=all_must_exist,
        idempotency_key=key,
        wait=wait,
        checks=checks,
    )
    return await core.starts.start(request)


async def answer_start(
    core: Services, caller: Caller, body: StartBody, key: str | None
) -> StartResult:
    """What `POST /start` answers: here, and on the hot path (doors/api/hotpath.py)."""
    selectors = [parse_selector(s) for s in body.selectors]
    return await _start(
        core,
        caller,
        selectors,
        body.params,
        body.wait,
        body.all_must_exist,
        key,
        body.checks,
        body.origin,
    )


def _mark_replayed(result: StartResult, response: Response) -> StartResult:
    if result.replayed:
        response.headers[REPLAYED_HEADER] = "true"
    return result


@router.post("/start", response_model=StartResult)
async def start(
    body: StartBody,
    core: Core,
    caller: Operator,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> StartResult:
    return _mark_replayed(await answer_start(core, caller, body, idempotency_key), response)


@router.post("/tasks/{ref}/start", response_model=StartResult)
async def start_task(
    ref: str,
    core: Core,
    caller: Operator,
    response: Response,
    body: TaskStartBody | None = None,
    idempotency_key: IdempotencyKey = None,
) -> StartResult:
    body = body or TaskStartBody()
    task = await core.tasks.get(ref)
    selector = Selector(SelectorKind.ID, task.key)
    result = await _start(
        core,
        caller,
        [selector],
        body.params,
        body.wait,
        False,
        idempotency_key,
        body.checks,
        body.origin,
    )
    _mark_replayed(result, response)
    if result.results[0].outcome is SelectorOutcome.DENIED:
        raise Forbidden(f"task {ref!r} is not on this key's allow-list", field="task")
    return result


@router.post("/preview", response_model=PreviewList)
async def preview(body: PreviewBody, core: Core, caller: Viewer) -> dict[str, Any]:
    selectors = [parse_selector(s) for s in body.selectors]
    return {"results": await core.starts.preview(selectors, caller)}
