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
    routes_events,
    routes_executions,
    routes_kv,
    routes_metrics,
    routes_schedules,
    routes_start,
    routes_tasks,
    routes_webhooks,
    routes_workflows,
)
from taskgate.doors.api.limits import BodySizeLimit
from taskgate.doors.metrics.collector import Metrics

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
    request bodies, to answer in its own format. `api_docs` False serves no /docs, /redoc or
    /openapi.json."""
    app = FastAPI(
        lifespan=lifespan,
        docs_url="/docs" if api_docs else None,
        redoc_url="/redoc" if api_docs else None,
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
        routes_workflows,
    )
    for module in routes:
        app.include_router(module.router)
    doors = doors or {}
    for prefix, door in doors.items():
        app.mount(prefix, door)
    app.add_middleware(
        BodySizeLimit,
        max_bytes=max_body_bytes,
        skip_prefixes=tuple(f"{prefix}/" for prefix in doors),
    )
    return app
