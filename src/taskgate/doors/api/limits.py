"""Refuses request bodies over the configured size before the application reads them."""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from taskgate.doors.asgianswer import send_json


def taskgate_refusal(max_bytes: int) -> bytes:
    return json.dumps(
        {"error": "too_large", "message": f"request body is larger than {max_bytes} bytes"}
    ).encode()


class BodySizeLimit:
    """A declared Content-Length over the limit is refused at once; a body sent without one
    (chunked) is read here up to the limit and handed on only if it fits.

    A door with its own wire format passes its own `refusal` body, and the outer limit leaves
    that door's paths (`skip_prefixes`) to it.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        refusal: Callable[[int], bytes] = taskgate_refusal,
        skip_prefixes: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.refusal = refusal
        self.skip_prefixes = skip_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.skip_prefixes):
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None:
            if length.isdigit() and int(length) > self.max_bytes:
                await self._refuse(send)
                return
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._refuse(send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send) -> None:
        body = self.refusal(self.max_bytes)
        await send_json(send, 413, body, headers=[(b"connection", b"close")])
