"""What every Butler request passes first: source address, rate limit, method override, key."""

from __future__ import annotations

import time
from collections.abc import Iterable

from starlette.datastructures import Headers, QueryParams
from starlette.types import ASGIApp, Receive, Scope, Send

from taskgate.domain.buckets import TokenBuckets, retry_after_seconds
from taskgate.domain.errors import TaskgateError, TooManyRequests
from taskgate.domain.executions import Caller
from taskgate.domain.startfilter import StartFilter
from taskgate.doors.addresses import AddressAllowList, not_allowed, peer_address
from taskgate.doors.asgianswer import send_json
from taskgate.doors.butler.wire import JSON_TYPE, core_refusal, error_body
from taskgate.doors.doorkeys import DoorKeys, key_header

CALLER_KEY = "butler_caller"


class ButlerGuard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        keys: DoorKeys,
        allow_from: Iterable[str],
        rate_limit_per_minute: int,
        start_filter: StartFilter | None,
    ) -> None:
        self.app = app
        self.keys = keys
        self.allow_from = AddressAllowList(allow_from)
        # Per client address (Butler's own limit is, in effect, shared by all clients).
        self.limiter = TokenBuckets(rate_limit_per_minute, 60.0) if rate_limit_per_minute else None
        self.start_filter = start_filter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        address = peer_address(scope)
        if not self.allow_from.allows(address):
            await _refuse(send, 403, not_allowed(address))
            return
        if self.limiter is not None:
            wait = self.limiter.take(address, time.monotonic())
            if wait:
                seconds = retry_after_seconds(wait)
                await _refuse(
                    send,
                    429,
                    f"Rate limit exceeded, retry in {seconds} seconds",
                    [(b"retry-after", str(seconds).encode())],
                )
                return
        headers = Headers(scope=scope)
        # The Qlik REST connector can only GET and POST; Butler's proxy honours this header.
        override = headers.get("x-http-method-override")
        if scope["method"] == "POST" and override:
            scope = dict(scope, method=override.strip().upper())
        try:
            caller = await self._caller(scope, headers, address)
        except TaskgateError as exc:
            refused = core_refusal(exc)
            extra = None
            if isinstance(exc, TooManyRequests):
                extra = [(b"retry-after", str(exc.retry_after).encode())]
            await _refuse(send, refused.status, refused.message, extra)
            return
        scope.setdefault("state", {})[CALLER_KEY] = caller
        await self.app(scope, receive, send)

    async def _caller(self, scope: Scope, headers: Headers, address: str) -> Caller:
        # Butler's own API token proposal (issue #184) takes `?apikey=` too; the header is
        # better: a query string lands in proxy and access logs.
        secret = key_header(headers) or QueryParams(scope["query_string"]).get("apikey")
        key = await self.keys.key(scope["method"], address, secret)
        if key is None:
            return Caller(f"butler@{address}", scope="butler", start_filter=self.start_filter)
        return key.caller(start_filter=self.start_filter)


async def _refuse(
    send: Send, status: int, message: str, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = error_body(status, message)
    await send_json(send, status, body, content_type=JSON_TYPE.encode(), headers=extra or [])
