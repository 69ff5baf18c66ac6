"""Builds the FastAPI application of the native API."""

from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI
from starlette.types import ASGIApp

from taskgate import __version__
from taskgate.core.services import Services
from taskgate.doors.api import (
    errors,
    routes_admin,
    routes_chains,
    routes_checks,
    routes_events,
    routes_executions,
    routes_kv,
    routes_metrics,
    routes_queues,
    routes_schedules,
    routes_start,
    routes_tasks,
    routes_webhooks,
    routes_workflows,
)
from taskgate.doors.api.hotpath import HotRoutes
from taskgate.doors.api.limits import BodySizeLimit
from taskgate.doors.api.methods import OptionsAnswer
from taskgate.doors.api.openapi import declare_errors
from taskgate.doors.metrics.collector import Metrics
from taskgate.doors.textguard import TextGuard
from taskgate.doors.unexpected import UnexpectedErrors

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_api(
    services: Services,
    *,
    max_body_bytes: int,
    lifespan: Lifespan | None = None,
    doors: Mapping[str, ASGIApp] | None = None,
    api_docs: bool = True,
) -> FastAPI:
    """The native API, with other doors mounted beside it; each such door limits its own
    request bodies, to answer in its own format. `api_docs` False serves no /openapi.json (the
    web door serves /docs and /redoc beside it)."""
    app = FastAPI(
        lifespan=lifespan,
        # /docs and /redoc are served by the web door from vendored files (no CDN).
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json" if api_docs else None,
        title="taskgate",
        version=__version__,
        description="Start, schedule, chain and watch tasks. See docs/api.md.",
        # FastAPI's own OpenTelemetry hooks ask for the global providers on every request
        # (about 3 % of a start's CPU); taskgate exports Prometheus metrics instead.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.services = services
    app.state.metrics = Metrics(services)
    errors.install(app)
    routes = (
        routes_admin,
        routes_tasks,
        routes_start,
        routes_executions,
        routes_schedules,
        routes_kv,
        routes_events,
        routes_metrics,
        routes_webhooks,
        routes_checks,
        routes_chains,
        routes_workflows,
        routes_queues,
    )
    for module in routes:
        app.include_router(module.router)
    declare_errors(app)
    doors = doors or {}
    for prefix, door in doors.items():
        app.mount(prefix, door)
    door_paths = tuple(f"{prefix}/" for prefix in doors)
    # Innermost: the middlewares below still see the requests it answers.
    app.add_middleware(HotRoutes)
    app.add_middleware(UnexpectedErrors, body=errors.unexpected_body)
    app.add_middleware(OptionsAnswer, routes=app.router.routes, skip_prefixes=door_paths)
    app.add_middleware(TextGuard, refusal=errors.refusal_body, status=422, skip_prefixes=door_paths)
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes, skip_prefixes=door_paths)
    return app
