"""What every page handler of the door shares: the core services, the templates, the
sessions; and who is looking (the visitor), checked for a role and a CSRF token."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from taskgate.core.access import OPEN_CALLER
from taskgate.core.authfailures import Source
from taskgate.core.services import Services
from taskgate.domain.apikeys import Role
from taskgate.domain.errors import Forbidden, Unauthorized
from taskgate.domain.executions import Caller
from taskgate.doors.web.assets import Templates
from taskgate.doors.web.forms import form_of
from taskgate.doors.web.headers import security_headers
from taskgate.doors.web.sessions import COOKIE, Session, SessionStore

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
DOOR = "web"


class LoginNeeded(Exception):
    """No session, or one whose key no longer works: the visitor is sent to the login."""


@dataclass(frozen=True)
class Visitor:
    session: Session
    name: str
    role: Role
    caller: Caller

    def may(self, role: str) -> bool:
        return self.role.allows(Role(role))


@dataclass
class WebDoor:
    services: Services
    env: Templates
    sessions: SessionStore

    @property
    def open_mode(self) -> bool:
        return self.services.access.auth_none

    async def visitor(self, request: Request) -> Visitor | None:
        """Who is logged in on this request, their key checked again now; None if nobody."""
        session = self.sessions.get(request.cookies.get(COOKIE))
        if session is None:
            return None
        if session.secret is None:
            if not self.open_mode:
                self.sessions.drop(session.id)
                return None
            return Visitor(session, OPEN_CALLER.name, Role.ADMIN, OPEN_CALLER)
        try:
            key = await self.services.access.key_for(session.secret, Role.VIEWER, source(request))
        except Unauthorized:
            self.sessions.drop(session.id)
            return None
        return Visitor(session, key.name, key.role, key.caller())

    async def viewer(self, request: Request, role: Role = Role.VIEWER) -> Visitor:
        """The logged-in visitor of a page that reads; a page for admins only asks `role`."""
        visitor = await self.visitor(request)
        if visitor is None:
            raise LoginNeeded
        if not visitor.role.allows(role):
            raise Forbidden(f"role {visitor.role.value} may not see this; needs {role.value}")
        return visitor

    async def acting(self, request: Request, role: Role) -> Visitor:
        """The visitor of a request that changes something: logged in, with the CSRF token of
        their session, and a role that may do it (the server refuses what a page hides)."""
        visitor = await self.viewer(request)
        await check_csrf(request, visitor.session.csrf)
        if not visitor.role.allows(role):
            raise Forbidden(f"role {visitor.role.value} may not do this; needs {role.value}")
        return visitor

    def render(
        self,
        request: Request,
        template: str,
        visitor: Visitor | None,
        *,
        status_code: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        html = self.env.get_template(template).render(
            request=request,
            visitor=visitor,
            csrf=visitor.session.csrf if visitor else "",
            open_mode=self.open_mode,
            path=request.url.path,
            **context,
        )
        return HTMLResponse(html, status_code=status_code, headers=security_headers())


async def check_csrf(request: Request, expected: str) -> None:
    given = request.headers.get(CSRF_HEADER) or (await form_of(request)).get(CSRF_FIELD)
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Forbidden(
            "the form's CSRF token is missing or stale: reload the page and try again",
            field=CSRF_FIELD,
        )


def source(request: Request) -> Source:
    return Source(DOOR, request.client.host if request.client else "")
