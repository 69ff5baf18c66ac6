"""Puts the door on the server's app: its static files, the API docs, and the pages."""

from __future__ import annotations

from fastapi import FastAPI

from taskgate.core.services import Services


def install_web(
    app: FastAPI,
    services: Services,
    *,
    api_docs: bool,
    dashboard: bool,
    session_hours: float,
) -> None:
    """`api_docs` serves /docs and /redoc (FastAPI's own load from a CDN, so they are off);
    `dashboard` the pages at / and under /ui."""
    if not (api_docs or dashboard):
        return  # nothing to serve: the page modules stay unimported (idle memory)
    # Imported here, not at the top: a server with neither the docs nor the dashboard never
    # loads the page modules; Jinja2 waits for the first page (tests/test_lean_imports.py).
    from starlette.staticfiles import StaticFiles

    from taskgate.doors.web import (
        routes_admin,
        routes_auth,
        routes_executions,
        routes_kv,
        routes_live,
        routes_overview,
        routes_schedules,
        routes_tasks,
    )
    from taskgate.doors.web.apidocs import docs_router
    from taskgate.doors.web.assets import STATIC_DIR, STATIC_PREFIX, Templates
    from taskgate.doors.web.door import WebDoor
    from taskgate.doors.web.sessions import SessionStore

    env = Templates()
    app.state.web_templates = env
    app.mount(STATIC_PREFIX, StaticFiles(directory=STATIC_DIR), name="ui-static")
    if api_docs and app.openapi_url:
        app.include_router(docs_router(env, app.openapi_url))
    if dashboard:
        door = WebDoor(services, env, SessionStore(session_hours * 3600))
        pages = (
            routes_auth,
            routes_overview,
            routes_live,
            routes_tasks,
            routes_executions,
            routes_schedules,
            routes_kv,
            routes_admin,
        )
        for module in pages:
            app.include_router(module.router(door))
