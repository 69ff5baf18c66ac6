"""The one place an unexpected error becomes a 500: logged once, answered in the door's format.

Starlette's own handler for `Exception` answers and then raises the error again, so the
server logs it a second time and drops the keep-alive connection. This middleware sits inside
it: it answers, logs once and keeps the connection; the errors a door means to answer (its
refusals, the core's) are turned into answers further in, by the door's exception handlers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from taskgate.doors.asgianswer import send_json

log = logging.getLogger("taskgate.doors")


class UnexpectedErrors:
    """`body()`: the door's JSON answer to an error it did not expect."""

    def __init__(self, app: ASGIApp, *, body: Callable[[], bytes]) -> None:
        self.app = app
        self.body = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception:
            log.exception("unexpected error on %s %s", scope["method"], scope["path"])
            if started:
                # Half an answer has gone out; the server closes the connection.
                return
            await send_json(send, 500, self.body())
