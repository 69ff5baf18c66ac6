"""The `http` action: one request, judged by its status code."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from taskgate.domain.actions import ActionSpec
from taskgate.domain.status import EndReason, Status
from taskgate.engine.actions.abortable import unless_aborted
from taskgate.engine.actions.contract import ActionContext, ActionOutcome, ActionRunner, Resources
from taskgate.engine.actions.registry import register
from taskgate.engine.logcollector import LogCollector

BODY_KEPT = 64 * 1024


class HttpAction(ActionSpec):
    kind: Literal["http"] = "http"
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = "POST"
    url: str = Field(..., pattern=r"^https?://")
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None
    expect_status: list[int] = Field(default_factory=lambda: [200, 201, 202, 204])
    timeout: float = Field(30.0, gt=0, le=86400)


@dataclass(frozen=True)
class HttpOutcome:
    ok: bool
    reason: str  # "completed", "timeout", "aborted", "failed"
    message: str
    status_code: int | None
    result: Any


async def run_http(
    action: HttpAction,
    *,
    headers: dict[str, str],
    default_body: Any,
    timeout: float | None,
    abort: asyncio.Event,
    log: LogCollector,
) -> HttpOutcome:
    import httpx  # on first use: ~4.5 MiB that an idle server does not need

    limit = min(action.timeout, timeout) if timeout else action.timeout
    body = action.body if action.body is not None else default_body
    send_body = action.method not in ("GET", "HEAD", "DELETE") and body is not None
    started = time.perf_counter()
    log.write(f"{action.method} {action.url}\n")
    async with httpx.AsyncClient(timeout=limit) as client:
        request = client.request(
            action.method,
            action.url,
            headers={**headers, **action.headers},
            json=body if send_body else None,
        )
        call = await unless_aborted(request, abort)
        if call is None:
            log.write("aborted before the response came\n")
            return HttpOutcome(False, "aborted", "aborted", None, None)
        try:
            response = call.result()
        except httpx.TimeoutException:
            log.write(f"no answer within {limit:g}s\n")
            return HttpOutcome(False, "timeout", f"timed out after {limit:g}s", None, None)
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
            # ValueError: a URL that parsed when the task was saved but that httpx cannot
            # send (a port that is not a number after templating, for one).
            log.write(f"request failed: {exc}\n")
            return HttpOutcome(False, "failed", f"request failed: {exc}", None, None)
    elapsed = (time.perf_counter() - started) * 1000
    text = response.text[:BODY_KEPT]
    log.write(f"-> {response.status_code} in {elapsed:.0f} ms\n{text}\n")
    try:
        parsed: Any = json.loads(text)
    except ValueError:
        parsed = text
    ok = response.status_code in action.expect_status
    message = f"HTTP {response.status_code}" + ("" if ok else " (not an expected status)")
    result = {"status_code": response.status_code, "body": parsed}
    return HttpOutcome(ok, "completed", message, response.status_code, result)


# What each way an HTTP call can end means for the attempt.
_STATUS_OF_REASON = {
    "timeout": Status.ERROR,
    "aborted": Status.ABORTED,
    "failed": Status.ERROR,
}


class HttpRunner(ActionRunner[HttpAction]):
    def __init__(self, _: Resources) -> None:
        pass

    async def run(self, spec: HttpAction, ctx: ActionContext) -> ActionOutcome:
        outcome = await run_http(
            spec,
            headers={"X-Taskgate-Execution-Id": ctx.execution_id},
            default_body={
                "execution_id": ctx.execution_id,
                "task_id": ctx.task.key,
                "params": ctx.params,
            },
            timeout=ctx.timeout,
            abort=ctx.abort,
            log=ctx.log,
        )
        if outcome.reason == "completed":
            status = Status.FINISHED_SUCCESS if outcome.ok else Status.FINISHED_FAIL
        else:
            status = _STATUS_OF_REASON[outcome.reason]
        # The task's timeout, when it was shorter than the action's own request timeout.
        task_timeout = ctx.timeout is not None and ctx.timeout < spec.timeout
        reason = EndReason.TIMEOUT if outcome.reason == "timeout" and task_timeout else None
        return ActionOutcome(
            status, outcome.status_code, outcome.message, outcome.result, reason=reason
        )


register("http", HttpAction, HttpRunner)
