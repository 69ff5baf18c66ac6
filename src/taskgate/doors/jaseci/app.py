"""Builds the Jaseci door: its routes, its guard and its error answers (JSON, as /api/v1)."""

from __future__ import annotations

import json
import logging

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from taskgate.config.jaseci import JaseciSettings
from taskgate.core.services import Services
from taskgate.core.visible import VisibleExecutions
from taskgate.domain.errors import TaskgateError, TooManyRequests
from taskgate.doors.api.errors import HTTP_STATUS, error_body
from taskgate.doors.api.limits import BodySizeLimit
from taskgate.doors.errorstatus import ErrorStatuses, status_for
from taskgate.doors.jaseci import scheduling, walkers
from taskgate.doors.jaseci.guard import JaseciGuard
from taskgate.doors.jaseci.schedulejson import BadSchedule

log = logging.getLogger(__name__)
PREFIX = "/js"  # where the assembly mounts this door
PUBLIC_PREFIX = "/js_public"  # and its public callback, as Jaseci's URL has it
# Bad schedules are 400, as the issue asks of Jaseci's creation calls; the rest as /api/v1.
STATUS: ErrorStatuses = {**HTTP_STATUS, BadSchedule: 400}
BOTH = ["GET", "POST"]


def refusal_body(status: int, message: str, field: str) -> bytes:
    code = {421: "misdirected", 403: "forbidden"}.get(status, "bad_request")
    return json.dumps(error_body(code, message, field)).encode()


def routes() -> list[Route]:
    return [
        Route("/walker_run", walkers.walker_run, methods=BOTH),
        Route("/walker_queue_check", walkers.walker_queue_check, methods=BOTH),
        Route("/walker_queue_wait", walkers.walker_queue_wait, methods=BOTH),
        Route("/add_scheduled_walker", scheduling.add_scheduled_walker, methods=["POST"]),
        Route("/add_scheduled_sequence", scheduling.add_scheduled_sequence, methods=["POST"]),
        Route("/get_scheduled_queues", scheduling.get_scheduled_queues, methods=BOTH),
        Route(
            "/delete_scheduled_queue",
            scheduling.delete_scheduled_queue,
            methods=["POST", "DELETE"],
        ),
    ]


def public_routes() -> list[Route]:
    return [Route("/walker_callback/{nd}/{wlk}", walkers.walker_callback, methods=BOTH)]


def create_jaseci_app(
    services: Services, settings: JaseciSettings, max_body_bytes: int, public: bool = False
) -> Starlette:
    """The door at /js, or (`public`) its callback at /js_public, whose key may come in the
    URL."""

    async def core_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, TaskgateError)
        status = status_for(exc, STATUS)
        headers = None
        if isinstance(exc, TooManyRequests):
            headers = {"Retry-After": str(exc.retry_after)}
        return JSONResponse(exc.to_dict(), status_code=status, headers=headers)

    async def http_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = "not_found" if exc.status_code == 404 else "bad_request"
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code)

    async def unexpected(request: Request, _: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse(error_body("internal", "internal error; see the taskgate log"), 500)

    app = Starlette(
        routes=public_routes() if public else routes(),
        middleware=[
            Middleware(BodySizeLimit, max_bytes=max_body_bytes),
            Middleware(
                JaseciGuard,
                access=services.access,
                allow_from=settings.allow_from,
                require_api_key=settings.require_api_key,
                open_to=settings.open_to,
                public=public,
            ),
        ],
        exception_handlers={
            HTTPException: http_error,
            TaskgateError: core_error,
            Exception: unexpected,
        },
    )
    app.state.services = services
    app.state.visible = VisibleExecutions(services.ctx, services.executions)
    app.state.sync_wait = settings.sync_wait_seconds
    return app
