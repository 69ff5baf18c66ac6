"""The first thing every request on every listener passes: is it meant for this server, and
does a browser send it on behalf of a page of another site?

- A `Host` that is not one of the server's names gets 421: a rebound DNS name reaches no door.
- A state-changing request (anything but GET, HEAD, OPTIONS) whose `Origin` is not one of the
  server's names, or that a browser marks `Sec-Fetch-Site: cross-site`, gets 403: a browser
  sends a form post or a bodiless fetch to another site without asking first.

Requests without these headers (curl, scripts, Qlik's REST connector) pass: they come from a
program, not from a page. Each door answers in its own wire format (`refusals`, by path
prefix); the rule is this one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from taskgate.doors.asgianswer import send_json
from taskgate.doors.hostnames import HostNames

# (status, message, the header to blame) -> a JSON body in a door's format
Refusal = Callable[[int, str, str], bytes]
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class OriginGuard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        names: HostNames,
        refusal: Refusal,
        door_refusals: Mapping[str, Refusal] | None = None,
    ) -> None:
        self.app = app
        self.names = names
        self.refusal = refusal
        # Longest prefix first, so a door mounted inside another's path finds its own format.
        self.door_refusals = sorted(
            (door_refusals or {}).items(), key=lambda item: len(item[0]), reverse=True
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = self.problem(scope["method"], Headers(scope=scope))
        if problem is None:
            await self.app(scope, receive, send)
            return
        status, message, header = problem
        await send_json(send, status, self._refusal(scope["path"])(status, message, header))

    def problem(self, method: str, headers: Headers) -> tuple[int, str, str] | None:
        """(status, message, header) when the request is refused; None when it may pass."""
        host = headers.get("host")
        if not self.names.allows_host(host):
            return (
                421,
                f"Host {host!r} is not a name this server answers to (server.hostnames)",
                "Host",
            )
        if method.upper() in SAFE_METHODS:
            return None
        origin = headers.get("origin")
        if origin is not None:
            if not self.names.origin_is_ours(origin):
                return (
                    403,
                    f"Origin {origin!r} is another site: cross-site requests that change "
                    "something are refused (server.cors_origins lets a site in)",
                    "Origin",
                )
            if self.names.origin_is_cors(origin):
                return None
        if headers.get("sec-fetch-site", "").strip().lower() == "cross-site":
            return (
                403,
                "Sec-Fetch-Site: cross-site: a page of another site may not change anything here",
                "Sec-Fetch-Site",
            )
        return None

    def _refusal(self, path: str) -> Refusal:
        for prefix, refusal in self.door_refusals:
            if path == prefix or path.startswith(prefix + "/"):
                return refusal
        return self.refusal
