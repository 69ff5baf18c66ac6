"""/docs (Swagger UI) and /redoc, served from the vendored files: they work without internet,
and their Content-Security-Policy lets them load nothing from outside."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from taskgate.doors.web.assets import Templates
from taskgate.doors.web.headers import DOCS_CSP, security_headers


def docs_router(env: Templates, openapi_url: str) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    def page(template: str) -> HTMLResponse:
        html = env.get_template(template).render(openapi_url=openapi_url)
        return HTMLResponse(html, headers=security_headers(DOCS_CSP))

    @router.get("/docs")
    async def swagger() -> HTMLResponse:
        return page("apidocs/swagger.html")

    @router.get("/redoc")
    async def redoc() -> HTMLResponse:
        return page("apidocs/redoc.html")

    return router
