"""What every Jaseci door request passes first: source address, then the key.

Jaseci clients send `Authorization: token <key>`; the door takes a taskgate API key that way
(or as `Authorization: Bearer`, `X-API-Key`). What each route needs: reading a queue takes a
viewer, starting or scheduling a walker an operator, scheduling a sequence (requests from the
server's network position) an admin, as Jaseci keeps it to admins.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from taskgate.core.access import AccessPolicy
from taskgate.core.authfailures import Source
from taskgate.domain.apikeys import Role
from taskgate.domain.errors import TaskgateError, TooManyRequests
from taskgate.domain.executions import Caller
from taskgate.doors.addresses import AddressAllowList, not_allowed, peer_address
from taskgate.doors.api.errors import HTTP_STATUS, error_body
from taskgate.doors.asgianswer import send_json
from taskgate.doors.doorkeys import EVERYWHERE, key_header
from taskgate.doors.errorstatus import status_for

CALLER_KEY = "jaseci_caller"
DOOR = "jaseci"
# The role each route needs; a route not named here needs an operator.
_ROLES = {
    "walker_queue_check": Role.VIEWER,
    "walker_queue_wait": Role.VIEWER,
    "get_scheduled_queues": Role.VIEWER,
    "add_scheduled_sequence": Role.ADMIN,
}


def needed_role(path: str) -> Role:
    return _ROLES.get(path.rstrip("/").rsplit("/", 1)[-1], Role.OPERATOR)


def jaseci_key(headers: Headers, public: bool = False, query: str = "") -> str | None:
    """`Authorization: token <key>` (Jaseci's), or the door keys' other ways; on the public
    callback also `?key=`, since a third party's webhook can only be given a URL."""
    scheme, _, secret = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "token" and secret.strip():
        return secret.strip()
    found = key_header(headers)
    if found is None and public:
        found = next((v for k, v in parse_qsl(query) if k == "key" and v), None)
    return found


class JaseciGuard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        access: AccessPolicy,
        allow_from: Iterable[str],
        require_api_key: bool,
        open_to: Iterable[str],
        public: bool = False,
    ) -> None:
        self.app = app
        self.public = public
        self.access = access
        self.allow_from = AddressAllowList(allow_from)
        self.open_to = AddressAllowList(open_to if require_api_key else EVERYWHERE)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        address = peer_address(scope)
        if not self.allow_from.allows(address):
            await _refuse(send, 403, not_allowed(address), "")
            return
        needed = needed_role(scope["path"])
        query = scope.get("query_string", b"").decode("latin-1")
        secret = jaseci_key(Headers(scope=scope), self.public, query)
        try:
            # Scheduling sequences always takes a key: an open network is not an admin.
            open_here = needed is not Role.ADMIN and self.open_to.allows(address)
            key = await self.access.door_key(
                secret, needed, Source(DOOR, address), open_here=open_here
            )
        except TaskgateError as exc:
            extra = None
            if isinstance(exc, TooManyRequests):
                extra = [(b"retry-after", str(exc.retry_after).encode())]
            await _refuse(send, status_for(exc, HTTP_STATUS), exc.message, "Authorization", extra)
            return
        caller = key.caller() if key is not None else Caller(f"jaseci@{address}", scope=DOOR)
        scope.setdefault("state", {})[CALLER_KEY] = caller
        await self.app(scope, receive, send)


async def _refuse(
    send: Send,
    status: int,
    message: str,
    field: str,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    code = "unauthorized" if status == 401 else "forbidden" if status == 403 else "refused"
    body = json.dumps(error_body(code, message, field or None)).encode()
    headers = list(extra or [])
    if status == 401:
        headers.append((b"www-authenticate", b"Token"))
    await send_json(send, status, body, content_type=b"application/json", headers=headers)
