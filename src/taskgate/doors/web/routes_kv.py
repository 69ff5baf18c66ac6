"""The key-value store: namespaces, their keys and values with the time left to live; edit
and delete (operator)."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from taskgate.core.clock import utcnow
from taskgate.domain.apikeys import Role
from taskgate.domain.errors import InvalidInput
from taskgate.domain.kv import KvWrite
from taskgate.doors.web.door import WebDoor
from taskgate.doors.web.forms import form_of
from taskgate.doors.web.pageroute import PageRoute


def ttl_ms(text: str) -> int | None:
    """Time to live in seconds from the form, as the store takes it (ms); blank: never."""
    if not text.strip():
        return None
    try:
        seconds = float(text)
    except ValueError:
        raise InvalidInput("ttl: seconds, a number", field="ttl") from None
    if seconds < 0:
        raise InvalidInput("ttl: not negative", field="ttl")
    return round(seconds * 1000) or None


def seconds_left(expires_at: datetime | None) -> int | None:
    """An entry's time to live now, for the edit form (which then keeps its expiry)."""
    if expires_at is None:
        return None
    return max(1, round((expires_at - utcnow()).total_seconds()))


def router(door: WebDoor) -> APIRouter:
    pages = APIRouter(include_in_schema=False, route_class=PageRoute)
    kv = door.services.kv

    def back(namespace: str) -> Response:
        return RedirectResponse(f"/ui/kv/{quote(namespace, safe='')}", 303)

    @pages.get("/ui/kv")
    async def namespaces(request: Request) -> Response:
        visitor = await door.viewer(request)
        sizes = await kv.namespace_sizes(visitor.caller)
        return door.render(request, "kv.html", visitor, namespaces=sizes)

    @pages.post("/ui/kv")
    async def put(request: Request) -> Response:
        visitor = await door.acting(request, Role.OPERATOR)
        form = await form_of(request)
        namespace = form.get("namespace").strip()
        item = KvWrite(namespace, form.get("key"), form.get("value"), ttl_ms(form.get("ttl")))
        await kv.put(item, visitor.caller)
        return back(namespace)

    @pages.post("/ui/kv/delete")
    async def delete(request: Request) -> Response:
        visitor = await door.acting(request, Role.OPERATOR)
        form = await form_of(request)
        namespace = form.get("namespace")
        key = form.optional("key")
        if key is None:
            await kv.delete_namespace(namespace, visitor.caller)
            return RedirectResponse("/ui/kv", 303)
        await kv.delete(namespace, key, visitor.caller)
        return back(namespace)

    @pages.get("/ui/kv/{namespace}")
    async def entries(request: Request, namespace: str) -> Response:
        visitor = await door.viewer(request)
        items = await kv.entries(namespace, visitor.caller)
        # ?edit=KEY fills the form with that entry (a secret's value is never shown: no edit).
        wanted = request.query_params.get("edit")
        editing = next((i for i in items if i.key == wanted and not i.secret), None)
        return door.render(
            request,
            "kv_namespace.html",
            visitor,
            namespace=namespace,
            items=items,
            key=editing.key if editing else "",
            value=editing.value if editing else "",
            ttl=seconds_left(editing.expires_at) if editing else None,
        )

    return pages
