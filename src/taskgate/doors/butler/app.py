"""Builds the Butler door: its routes (those enabled), its guard and its error format."""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from taskgate.config.doors import ButlerEndpoints, ButlerSchedulerEndpoints, ButlerSettings
from taskgate.core.services import Services
from taskgate.domain.errors import TaskgateError
from taskgate.domain.selectors import normalize_task_id
from taskgate.doors.api.limits import BodySizeLimit
from taskgate.doors.butler import kv, schedules, start
from taskgate.doors.butler.guard import ButlerGuard
from taskgate.doors.butler.wire import (
    ButlerError,
    core_refusal,
    error_body,
    error_response,
    json_response,
    refusal_body,
)
from taskgate.doors.doorkeys import DoorKeys
from taskgate.doors.textguard import TextGuard
from taskgate.doors.unexpected import UnexpectedErrors

log = logging.getLogger(__name__)
PREFIX = "/v4"  # where the assembly mounts this door
BUTLER_VERSION = "16.0.4"  # the Butler release whose API this door speaks


class _Segment(Convertor[str]):
    """One path segment that may be empty: Butler answers `/reloadtask//start` itself."""

    regex = "[^/]*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("segment", _Segment())


def _schedule_routes(flags: ButlerSchedulerEndpoints) -> list[Route]:
    # The fixed paths come before `/schedules/{scheduleId}/...`.
    wanted = [
        (flags.get_schedule, "/schedules", schedules.list_or_get, "GET"),
        (flags.get_schedule_status_all, "/schedules/status", schedules.status, "GET"),
        (flags.create_new_schedule, "/schedules", schedules.create, "POST"),
        (flags.start_schedule, "/schedules/startall", schedules.start_all, "PUT"),
        (flags.stop_schedule, "/schedules/stopall", schedules.stop_all, "PUT"),
        (flags.delete_schedule, "/schedules/{scheduleId}", schedules.delete, "DELETE"),
        (flags.start_schedule, "/schedules/{scheduleId}/start", schedules.start, "PUT"),
        (flags.stop_schedule, "/schedules/{scheduleId}/stop", schedules.stop, "PUT"),
    ]
    return [Route(path, handler, methods=[method]) for on, path, handler, method in wanted if on]


async def butlerping(_: Request) -> Response:
    return json_response({"response": "Butler reporting for duty", "butlerVersion": BUTLER_VERSION})


async def endpoints_enabled(request: Request) -> Response:
    return json_response(request.app.state.endpoints.enabled_names())


def routes(endpoints: ButlerEndpoints) -> list[Route]:
    """The door's routes: those of the endpoints the config enables, as Butler registers them."""
    found: list[Route] = []
    if endpoints.sense_start_task:
        found.append(
            Route(
                "/reloadtask/{taskId:segment}/start",
                start.start_task,
                methods=["PUT", "POST"],
            )
        )
    if endpoints.key_value_store:
        found += [
            Route("/keyvaluesnamespaces", kv.namespaces, methods=["GET"]),
            Route("/keyvalues/{namespace}/keyexists", kv.key_exists, methods=["GET"]),
            Route("/keyvalues/{namespace}", kv.get_value, methods=["GET"]),
            Route("/keyvalues/{namespace}", kv.add_value, methods=["POST"]),
            Route("/keyvalues/{namespace}/{key}", kv.delete_value, methods=["DELETE"]),
            Route("/keyvalues/{namespace}", kv.delete_namespace, methods=["DELETE"]),
            Route("/keylist/{namespace}", kv.key_list, methods=["GET"]),
        ]
    found += _schedule_routes(endpoints.scheduler)
    if endpoints.butlerping:
        found.append(Route("/butlerping", butlerping, methods=["GET"]))
    if endpoints.api_list_enabled_endpoints:
        found.append(Route("/configfile/endpointsenabled", endpoints_enabled, methods=["GET"]))
    return found


def create_butler_app(
    services: Services, settings: ButlerSettings, max_body_bytes: int
) -> Starlette:
    endpoints = settings.endpoints
    for task_id in settings.start_task_filter.allow_task.task_id:
        if normalize_task_id(task_id) is None:
            # Butler warns at start too: such an entry can never match a request.
            log.warning("butler.start_task_filter: %r is not a task id", task_id)

    async def not_found(request: Request, _: Exception) -> Response:
        # Fastify's own 404 lists its keys in this order.
        body = {
            "message": f"Route {request.method}:{request.url.path} not found",
            "error": "Not Found",
            "statusCode": 404,
        }
        return json_response(body, status=404)

    async def butler_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, ButlerError)
        return error_response(exc)

    async def core_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, TaskgateError)
        return error_response(core_refusal(exc))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code in (404, 405):
            return await not_found(request, exc)
        return error_response(ButlerError(exc.status_code, str(exc.detail)))

    app = Starlette(
        routes=routes(endpoints),
        middleware=[
            Middleware(
                BodySizeLimit,
                max_bytes=max_body_bytes,
                refusal=lambda _: error_body(
                    413, "Request body is too large", "FST_ERR_CTP_BODY_TOO_LARGE"
                ),
            ),
            # Butler refuses bad input with 400 (AJV's validation errors).
            Middleware(TextGuard, refusal=refusal_body, status=400),
            Middleware(
                ButlerGuard,
                keys=DoorKeys(
                    services.access,
                    "butler",
                    require_api_key=settings.require_api_key,
                    open_to=settings.open_to,
                ),
                allow_from=settings.allow_from,
                rate_limit_per_minute=settings.rate_limit_per_minute,
                start_filter=settings.start_task_filter.start_filter(),
            ),
            Middleware(
                UnexpectedErrors,
                body=lambda: error_body(500, "internal error; see the taskgate log"),
            ),
        ],
        exception_handlers={
            HTTPException: http_error,
            ButlerError: butler_error,
            TaskgateError: core_error,
        },
    )
    app.state.services = services
    app.state.endpoints = endpoints
    app.state.kv_enabled = endpoints.key_value_store
    return app
