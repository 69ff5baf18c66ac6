"""An error nobody meant is answered with a 500 in the door's format and logged once."""

from __future__ import annotations

import asyncio
import logging

import pytest
from starlette.types import Message, Receive, Scope, Send

from taskgate.doors.unexpected import UnexpectedErrors


async def broken(scope: Scope, receive: Receive, send: Send) -> None:
    raise RuntimeError("a bug")


def test_an_unexpected_error_is_answered_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    app = UnexpectedErrors(broken, body=lambda: b'{"error":"internal"}')
    scope: Scope = {"type": "http", "method": "GET", "path": "/x"}
    with caplog.at_level(logging.ERROR):
        asyncio.run(app(scope, receive, send))  # raises nothing: the connection stays
    assert sent[0]["status"] == 500
    assert sent[1]["body"] == b'{"error":"internal"}'
    assert [r.message for r in caplog.records] == ["unexpected error on GET /x"]
