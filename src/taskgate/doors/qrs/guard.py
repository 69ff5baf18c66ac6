"""What every QRS request passes first: source address, the API key (on the plain port), the
Xrfkey check, the acting user."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from taskgate.domain.apikeys import Role
from taskgate.domain.errors import TaskgateError
from taskgate.domain.executions import Caller
from taskgate.doors.addresses import AddressAllowList, not_allowed, peer_address
from taskgate.doors.doorkeys import DoorKeys, key_header
from taskgate.doors.originguard import SAFE_METHODS
from taskgate.doors.qrs.wire import QrsError, core_refusal, error_response, xsrf_refusal

CALLER_KEY = "qrs_caller"
_XRFKEY = re.compile(r"^[0-9A-Za-z]{16}$")


def xrfkey_of(query_string: bytes) -> str | None:
    """The `Xrfkey` query parameter, its name in any case (clients spell it both ways)."""
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if name.lower() == "xrfkey":
            return value
    return None


def parse_qlik_user(header: str) -> tuple[str, str] | None:
    """`UserDirectory=INTERNAL; UserId=sa_api` -> (directory, user id), leniently: keys in any
    case, spaces anywhere; None when either part is missing."""
    parts: dict[str, str] = {}
    for item in header.split(";"):
        key, sep, value = item.partition("=")
        if sep:
            parts[key.strip().lower()] = value.strip()
    directory, user = parts.get("userdirectory"), parts.get("userid")
    if not directory or not user:
        return None
    return directory, user


# Changing composite events changes chain rules: an admin's work, as on the native API.
_ADMIN_PATHS = re.compile(r"/(compositeevent(/.*)?|reloadtask/(create|update))/?$")


def _role(scope: Scope) -> Role | None:
    if scope["method"].upper() in SAFE_METHODS:
        return None
    return Role.ADMIN if _ADMIN_PATHS.search(scope["path"]) else None


class QrsGuard:
    def __init__(
        self, app: ASGIApp, *, allow_from: Iterable[str] | None, keys: DoorKeys | None
    ) -> None:
        self.app = app
        # None: every peer, and no key (the mutual-TLS listener has checked the client's
        # certificate already: that is its credential).
        self.allow_from = AddressAllowList(allow_from) if allow_from is not None else None
        self.keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        address = peer_address(scope)
        if self.allow_from is not None and not self.allow_from.allows(address):
            refusal = QrsError(403, not_allowed(address))
            await error_response(refusal)(scope, receive, send)
            return
        headers = Headers(scope=scope)
        caller: Caller | None = None
        if self.keys is not None:
            try:
                key = await self.keys.key(
                    scope["method"], address, key_header(headers), role=_role(scope)
                )
            except TaskgateError as exc:
                await error_response(core_refusal(exc))(scope, receive, send)
                return
            caller = key.caller() if key is not None else None
        xrfkey = xrfkey_of(scope["query_string"])
        if xrfkey is None or not _XRFKEY.match(xrfkey) or headers.get("x-qlik-xrfkey") != xrfkey:
            await xsrf_refusal()(scope, receive, send)
            return
        if caller is None:
            user = parse_qlik_user(headers.get("x-qlik-user", ""))
            name = f"qrs:{user[0]}\\{user[1]}" if user else f"qrs@{address or 'unknown'}"
            caller = Caller(name, scope="qrs")
        scope.setdefault("state", {})[CALLER_KEY] = caller
        await self.app(scope, receive, send)
