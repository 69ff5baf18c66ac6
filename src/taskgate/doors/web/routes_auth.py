"""The landing page, login with an API key, and logout."""

from __future__ import annotations

import hmac
import secrets

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from taskgate.domain.apikeys import Role
from taskgate.domain.errors import Forbidden, Unauthorized
from taskgate.doors.web.door import WebDoor, source
from taskgate.doors.web.forms import form_of
from taskgate.doors.web.pageroute import PageRoute
from taskgate.doors.web.sessions import COOKIE

# Login CSRF: the form carries the value of this short-lived cookie (double submit), so a
# page of another site cannot log a browser in under its own key.
LOGIN_COOKIE = "taskgate_login"
LOGIN_FORM_SECONDS = 3600


def safe_next(target: str) -> str:
    """Where to go after login: a path on this server only, never another site."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def router(door: WebDoor) -> APIRouter:
    pages = APIRouter(include_in_schema=False, route_class=PageRoute)

    def secure(request: Request) -> bool:
        return request.url.scheme == "https"

    def login_form(request: Request, status_code: int = 200, problem: str = "") -> Response:
        token = secrets.token_urlsafe(24)
        answer = door.render(
            request,
            "login.html",
            None,
            status_code=status_code,
            login_token=token,
            next=safe_next(request.query_params.get("next", "/")),
            problem=problem,
        )
        answer.set_cookie(
            LOGIN_COOKIE,
            token,
            max_age=LOGIN_FORM_SECONDS,
            path="/ui/login",
            httponly=True,
            samesite="strict",
            secure=secure(request),
        )
        return answer

    @pages.get("/ui/login")
    async def login_page(request: Request) -> Response:
        if await door.visitor(request) is not None:
            return RedirectResponse(safe_next(request.query_params.get("next", "/")), 303)
        return login_form(request)

    @pages.post("/ui/login")
    async def login(request: Request) -> Response:
        form = await form_of(request)
        expected = request.cookies.get(LOGIN_COOKIE, "")
        given = form.get("login_token")
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            raise Forbidden("the login form is stale: load it again", field="login_token")
        key = form.get("key").strip()
        if door.open_mode:
            session = door.sessions.create(None)
        else:
            if not key:
                return login_form(request, 401, "Enter an API key.")
            try:
                await door.services.access.key_for(key, Role.VIEWER, source(request))
            except Unauthorized as exc:
                return login_form(request, 401, f"Not logged in: {exc.message}.")
            session = door.sessions.create(key)
        answer = RedirectResponse(safe_next(form.get("next", "/")), status_code=303)
        answer.set_cookie(
            COOKIE,
            session.id,
            max_age=int(door.sessions.lifetime),
            path="/",
            httponly=True,
            samesite="strict",
            secure=secure(request),
        )
        answer.delete_cookie(LOGIN_COOKIE, path="/ui/login")
        return answer

    @pages.post("/ui/logout")
    async def logout(request: Request) -> Response:
        visitor = await door.acting(request, Role.VIEWER)
        door.sessions.drop(visitor.session.id)
        answer = RedirectResponse("/", status_code=303)
        answer.delete_cookie(COOKIE, path="/")
        return answer

    return pages
