"""Builds the QRS door: its routes, its guard and its error answers."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from taskgate import __version__
from taskgate.core.services import Services
from taskgate.domain.errors import TaskgateError
from taskgate.domain.qrsenums import enums_document
from taskgate.doors.api.limits import BodySizeLimit
from taskgate.doors.doorkeys import DoorKeys
from taskgate.doors.qrs import routes_chains as chains
from taskgate.doors.qrs import routes_executions as runs
from taskgate.doors.qrs import routes_tasks as tasks
from taskgate.doors.qrs.guard import QrsGuard
from taskgate.doors.qrs.wire import (
    QrsError,
    core_refusal,
    error_body,
    error_response,
    json_response,
    refusal_body,
)
from taskgate.doors.textguard import TextGuard
from taskgate.doors.unexpected import UnexpectedErrors

PREFIX = "/qrs"  # where the assembly mounts this door
# The Qlik Sense release whose repository API this door answers as (May 2024).
QRS_BUILD_VERSION = "14.187.4"


async def about(_: Request) -> Response:
    return json_response(
        {
            "buildVersion": QRS_BUILD_VERSION,
            "buildDate": "5/1/2024 12:00:00 AM",
            "databaseProvider": "taskgate",
            "nodeType": 1,
            "sharedPersistence": True,
            "requiresBootstrap": False,
            "singleNodeOnly": False,
            "schemaPath": "About",
            "taskgateVersion": __version__,
        }
    )


async def enums(_: Request) -> Response:
    return json_response(enums_document())


async def not_supported(_: Request) -> Response:
    # QRS has no `GET /qrs/task/{id}` (the abstract task type); clients use reloadtask/{id}.
    raise QrsError(404, "Not found: read one task with /qrs/reloadtask/{id}", "id")


def routes() -> list[Route]:
    get, post, put, delete = ["GET"], ["POST"], ["PUT"], ["DELETE"]
    return [
        Route("/about", about, methods=get),
        Route("/about/api/enums", enums, methods=get),
        Route("/task/start", tasks.start_by_name, methods=post),
        Route("/task/start/synchronous", tasks.start_by_name_synchronous, methods=post),
        Route("/task/start/many", tasks.start_many, methods=post),
        Route("/task/stop/many", tasks.stop_many, methods=post),
        Route("/task/{id}/start", tasks.start, methods=post),
        Route("/task/{id}/start/synchronous", tasks.start_synchronous, methods=post),
        Route("/task/{id}/stop", tasks.stop, methods=post),
        Route("/task", tasks.task_list, methods=get),
        Route("/task/full", tasks.task_list_full, methods=get),
        Route("/task/count", tasks.task_count, methods=get),
        Route("/task/{id}", not_supported, methods=get),
        Route("/reloadtask", tasks.task_list, methods=get),
        Route("/reloadtask/full", tasks.task_list_full, methods=get),
        Route("/reloadtask/count", tasks.task_count, methods=get),
        Route("/reloadtask/create", chains.reloadtask_create, methods=post),
        Route("/reloadtask/update", chains.reloadtask_update, methods=post),
        Route("/reloadtask/{id}", tasks.reloadtask_get, methods=get),
        Route("/reloadtask/{id}/scriptlogfile", runs.scriptlog_reference, methods=get),
        Route("/download/reloadtask/{ref}/{filename}", runs.scriptlog_download, methods=get),
        Route("/compositeevent", chains.event_list, methods=get),
        Route("/compositeevent", chains.event_create, methods=post),
        Route("/compositeevent/full", chains.event_list_full, methods=get),
        Route("/compositeevent/count", chains.event_count, methods=get),
        Route("/compositeevent/{id}", chains.event_get, methods=get),
        Route("/compositeevent/{id}", chains.event_update, methods=put),
        Route("/compositeevent/{id}", chains.event_delete, methods=delete),
        Route("/executionsession", runs.session_list, methods=get),
        Route("/executionsession/full", runs.session_list_full, methods=get),
        Route("/executionsession/count", runs.session_count, methods=get),
        Route("/executionsession/{id}", runs.session_get, methods=get),
        Route("/executionresult", runs.result_list, methods=get),
        Route("/executionresult/full", runs.result_list_full, methods=get),
        Route("/executionresult/count", runs.result_count, methods=get),
        Route("/executionresult/{id}", runs.result_get, methods=get),
    ]


def create_qrs_app(
    services: Services,
    *,
    allow_from: Iterable[str] | None,
    keys: DoorKeys | None,
    max_body_bytes: int,
    result_history: int,
) -> Starlette:
    """The door; `allow_from` and `keys` None let every peer in without a key (behind the
    mutual-TLS listener, whose certificate check is the credential)."""

    async def qrs_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, QrsError)
        return error_response(exc)

    async def core_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, TaskgateError)
        return error_response(core_refusal(exc))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 405:
            message = f"{request.method} is not supported on {request.url.path}"
        elif exc.status_code == 404:
            message = f"Not found: {request.url.path}"
        else:
            message = str(exc.detail)
        return error_response(QrsError(exc.status_code, message))

    app = Starlette(
        routes=routes(),
        middleware=[
            Middleware(
                BodySizeLimit,
                max_bytes=max_body_bytes,
                refusal=lambda limit: error_body(
                    QrsError(413, f"body: larger than {limit} bytes", "body")
                ),
            ),
            Middleware(QrsGuard, allow_from=allow_from, keys=keys),
            Middleware(TextGuard, refusal=refusal_body, status=400),
            Middleware(
                UnexpectedErrors,
                body=lambda: error_body(QrsError(500, "internal error; see the taskgate log")),
            ),
        ],
        exception_handlers={
            HTTPException: http_error,
            QrsError: qrs_error,
            TaskgateError: core_error,
        },
    )
    app.state.services = services
    app.state.result_history = result_history
    return app
