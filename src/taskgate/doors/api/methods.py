"""Which methods a path answers: the `Allow` of an OPTIONS answer and of a 405.

Starlette's router names only the methods of the first route whose path matches, and a path
such as `/api/v1/tasks/{ref}` is served by several routes (GET and DELETE by reference, PUT by
id); these answers name the methods of all of them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from starlette.routing import BaseRoute, Match, Mount
from starlette.types import ASGIApp, Receive, Scope, Send


def _plain_routes(routes: Sequence[BaseRoute], prefix: str = "") -> Iterator[tuple[str, BaseRoute]]:
    """Each route with the prefix it is included under; FastAPI keeps an included router as
    one entry that holds the router's own routes."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            context = getattr(route, "include_context", None)
            yield from _plain_routes(included.routes, prefix + getattr(context, "prefix", ""))
        elif not isinstance(route, Mount):
            yield prefix, route


def allowed_methods(routes: Sequence[BaseRoute], scope: Scope) -> list[str]:
    """The methods some route answers on `scope`'s path, and OPTIONS; empty
    when no route has the path."""
    methods: set[str] = set()
    path: str = scope["path"]
    for prefix, route in _plain_routes(routes):
        if not path.startswith(prefix):
            continue
        probe = {**scope, "type": "http", "path": path[len(prefix) :], "root_path": ""}
        match, _ = route.matches(probe)
        if match is not Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    if not methods:
        return []
    # FastAPI's routes answer HEAD only where they declare it; OPTIONS is answered here.
    methods.add("OPTIONS")
    return sorted(methods)


class OptionsAnswer:
    """Answers OPTIONS on a known path with 204 and its `Allow` (a CORS preflight is the CORS
    middleware's, further out); `skip_prefixes`: doors mounted inside, which answer their own."""

    def __init__(
        self, app: ASGIApp, *, routes: Sequence[BaseRoute], skip_prefixes: tuple[str, ...] = ()
    ) -> None:
        self.app = app
        self.routes = routes
        self.skip_prefixes = skip_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "OPTIONS"
            or scope["path"].startswith(self.skip_prefixes)
        ):
            await self.app(scope, receive, send)
            return
        methods = allowed_methods(self.routes, scope)
        if not methods:
            await self.app(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 204,
                "headers": [(b"allow", ", ".join(methods).encode())],
            }
        )
        await send({"type": "http.response.body", "body": b""})
