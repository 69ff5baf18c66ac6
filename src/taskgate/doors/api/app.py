"""Builds the FastAPI application of the native API."""

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI

from taskgate import __version__
from taskgate.core.services import Services
from taskgate.doors.api import (
    errors,
    routes_admin,
    routes_executions,
    routes_schedules,
    routes_start,
    routes_tasks,
)
from taskgate.doors.api.limits import BodySizeLimit

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_api(
    services: Services, *, max_body_bytes: int, lifespan: Lifespan | None = None
) -> FastAPI:
    app = FastAPI(
        lifespan=lifespan,
        title="taskgate",
        version=__version__,
        description="Start, schedule, chain and watch tasks. See docs/api.md.",
    )
    app.state.services = services
    errors.install(app)
    for module in (routes_admin, routes_tasks, routes_start, routes_executions, routes_schedules):
        app.include_router(module.router)
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    return app
