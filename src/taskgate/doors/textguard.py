"""Refuses a request whose path or query string holds text that may not come in (a NUL, a lone
surrogate: domain/text.py), before a door's routes read it, in the door's own error format.
The bodies are checked where they are parsed (the models, each door's body reader)."""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from taskgate.domain.text import text_problem
from taskgate.doors.asgianswer import send_json
from taskgate.doors.originguard import Refusal


def url_problem(scope: Scope) -> tuple[str, str] | None:
    """(field, problem) for the first path or query text of `scope` that may not come in."""
    problem = text_problem(scope["path"])
    if problem is not None:
        return "path", problem
    # Decoded as Starlette decodes it for the routes (bytes that are no UTF-8 become U+FFFD).
    query = scope.get("query_string", b"").decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True):
        for text in (name, value):
            problem = text_problem(text)
            if problem is not None:
                return name.replace("\x00", "\\u0000"), problem
    return None


class TextGuard:
    """`skip_prefixes`: the paths of doors mounted inside this one, which guard their own."""

    def __init__(
        self, app: ASGIApp, *, refusal: Refusal, status: int, skip_prefixes: tuple[str, ...] = ()
    ) -> None:
        self.app = app
        self.refusal = refusal
        self.status = status
        self.skip_prefixes = skip_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = None
        if scope["type"] == "http" and not scope["path"].startswith(self.skip_prefixes):
            found = url_problem(scope)
        if found is None:
            await self.app(scope, receive, send)
            return
        field, problem = found
        body = self.refusal(self.status, f"{field}: {problem}", field)
        await send_json(send, self.status, body)
