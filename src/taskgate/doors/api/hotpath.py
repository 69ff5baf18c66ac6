"""The two requests a busy server answers most, answered without FastAPI's machinery.

A start (`POST /api/v1/start`) and the wait for an execution's end (`GET
/api/v1/executions/{id}/wait`) are what every trigger sends. Below the middlewares FastAPI
spends more of the server's CPU on them than the start itself does: matching the path against
every route, solving the dependencies, reading the parameters one by one (py-spy, accept
path: 17 % in `solve_dependencies`, 4 % in route matching). Here the plain case of these two
is answered by the routes' own functions (`answer_start`, `waited`), with the routes' own
models, checks and caller; anything else — another content type, a body or a query that does
not validate, a parameter FastAPI would refuse — goes on to the routes unchanged (the body
read here is handed on), and they answer it, errors included, as they always have.
"""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qsl

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from taskgate.domain.apikeys import Role
from taskgate.domain.errors import TaskgateError
from taskgate.doors.api.deps import caller_of
from taskgate.doors.api.errors import taskgate_error_response
from taskgate.doors.api.routes_executions import DEFAULT_WAIT, MAX_WAIT, waited
from taskgate.doors.api.routes_start import (
    IDEMPOTENCY_KEY_MAX,
    REPLAYED_HEADER,
    StartBody,
    answer_start,
)
from taskgate.doors.state import services_of

START_PATH = "/api/v1/start"
WAIT_PATH = re.compile(r"/api/v1/executions/([^/]+)/wait")
# A timeout as FastAPI takes it for certain; anything else is left to the route to judge.
PLAIN_NUMBER = re.compile(r"[0-9]{1,9}(?:\.[0-9]{1,9})?")
JSON_TYPE = re.compile(r"application/json\s*(?:;.*)?", re.IGNORECASE | re.DOTALL)


class HotRoutes:
    """Inside the door's middlewares (they still see every request), before the router."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            method, path = scope["method"], scope["path"]
            if method == "POST" and path == START_PATH:
                await self._start(scope, receive, send)
                return
            if method == "GET" and path.endswith("/wait"):
                match = WAIT_PATH.fullmatch(path)
                if match is not None:
                    await self._wait(scope, receive, send, match.group(1))
                    return
        await self.app(scope, receive, send)

    async def _start(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = _headers(scope, (b"content-type", b"authorization", b"idempotency-key"))
        content_type = headers.get(b"content-type")
        if content_type is None or JSON_TYPE.fullmatch(content_type) is None:
            await self.app(scope, receive, send)
            return
        body, more = await _read_body(receive)
        key = headers.get(b"idempotency-key")
        parsed = None
        if more is None and (key is None or len(key) <= IDEMPOTENCY_KEY_MAX):
            parsed = _start_body(body)
        if parsed is None:
            await self.app(scope, _replay(body, more, receive), send)
            return
        request = Request(scope)
        try:
            caller = await caller_of(request, headers.get(b"authorization"), Role.OPERATOR)
            result = await answer_start(services_of(request), caller, parsed, key)
        except TaskgateError as exc:
            await taskgate_error_response(exc)(scope, receive, send)
            return
        extra = [(REPLAYED_HEADER.lower().encode(), b"true")] if result.replayed else []
        await _answer(send, result, extra)

    async def _wait(self, scope: Scope, receive: Receive, send: Send, execution_id: str) -> None:
        timeout = _wait_timeout(scope["query_string"])
        if timeout is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        authorization = _headers(scope, (b"authorization",)).get(b"authorization")
        try:
            await caller_of(request, authorization, Role.VIEWER)
            execution = await waited(services_of(request), execution_id, timeout)
        except TaskgateError as exc:
            await taskgate_error_response(exc)(scope, receive, send)
            return
        await _answer(send, execution, [])


def _headers(scope: Scope, wanted: tuple[bytes, ...]) -> dict[bytes, str]:
    """The first value of each wanted header (as Starlette's `Headers.get` gives it)."""
    found: dict[bytes, str] = {}
    for name, value in scope["headers"]:
        name = name.lower()
        if name in wanted and name not in found:
            found[name] = value.decode("latin-1")
    return found


async def _read_body(receive: Receive) -> tuple[bytes, Message | None]:
    """The request's body; and the message that ended the reading when it was not the body's
    end (a disconnect), which the route is then given to see."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), message
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), None


def _replay(body: bytes, more: Message | None, receive: Receive) -> Receive:
    """`receive` as it was before the body was read here."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]
    if more is not None:
        pending = [pending[0], more] if body else [more]

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


def _start_body(body: bytes) -> StartBody | None:
    """The body as the route would take it (`json.loads`, then the model); None when the
    route is to judge it."""
    if not body:
        return None
    try:
        return StartBody.model_validate(json.loads(body))
    except (ValueError, ValidationError, RecursionError):  # ValueError: bad JSON, bad UTF-8
        return None


def _wait_timeout(query: bytes) -> float | None:
    """The `timeout` of a plain query (no other parameter, one plain number in range)."""
    if not query:
        return DEFAULT_WAIT
    try:
        pairs = parse_qsl(query.decode("ascii"), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        return None
    if len(pairs) != 1 or pairs[0][0] != "timeout" or not PLAIN_NUMBER.fullmatch(pairs[0][1]):
        return None
    timeout = float(pairs[0][1])
    return timeout if timeout <= MAX_WAIT else None


async def _answer(send: Send, model: BaseModel, extra: list[tuple[bytes, bytes]]) -> None:
    body = model.model_dump_json().encode()
    headers = [
        (b"content-length", str(len(body)).encode()),
        (b"content-type", b"application/json"),
        *extra,
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
