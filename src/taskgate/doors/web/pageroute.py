"""The door's answers when a page cannot be shown: the login for a visitor who is not logged
in, and an HTML error page (with the core's message) for a refusal of the core or bad input.
The same statuses as the native API (doors/api/errors.py HTTP_STATUS)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute

from taskgate.domain.errors import TaskgateError, TooManyRequests
from taskgate.doors.api.errors import HTTP_STATUS
from taskgate.doors.errorstatus import status_for
from taskgate.doors.web.assets import Templates
from taskgate.doors.web.door import LoginNeeded
from taskgate.doors.web.headers import security_headers

log = logging.getLogger(__name__)
Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    env: Templates = request.app.state.web_templates
    html = env.get_template("error.html").render(
        request=request, visitor=None, status=status, message=message, path=request.url.path
    )
    return HTMLResponse(html, status_code=status, headers=security_headers())


def login_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    url = f"/ui/login?next={quote(target, safe='/')}"
    if request.headers.get("hx-request"):
        # htmx follows HX-Redirect with a full page load.
        return Response(status_code=401, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


class PageRoute(APIRoute):
    def get_route_handler(self) -> Handler:
        handle = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                return await handle(request)
            except LoginNeeded:
                return login_redirect(request)
            except TaskgateError as exc:
                answer = error_page(request, status_for(exc, HTTP_STATUS), exc.message)
                if isinstance(exc, TooManyRequests):
                    answer.headers["Retry-After"] = str(exc.retry_after)
                return answer
            except RequestValidationError as exc:
                first = next(iter(exc.errors()), {"loc": (), "msg": "invalid"})
                where = ".".join(str(p) for p in first["loc"])
                return error_page(request, 422, f"{where}: {first['msg']}")

        return page
