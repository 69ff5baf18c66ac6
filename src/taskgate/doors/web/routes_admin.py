"""Admin pages: API keys (create, with the secret shown once; revoke), the audit log, and
webhook deliveries (redeliver)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from taskgate.core import apikeys, audit
from taskgate.domain.apikeys import Role
from taskgate.domain.errors import InvalidInput
from taskgate.doors.web.door import WebDoor
from taskgate.doors.web.forms import form_of
from taskgate.doors.web.pageroute import PageRoute

AUDIT_SHOWN = 200
DELIVERIES_SHOWN = 100


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise InvalidInput(
            f"role: one of {', '.join(r.value for r in Role)}", field="role"
        ) from None


def parse_days(value: str) -> float | None:
    if not value.strip():
        return None
    try:
        return float(value)
    except ValueError:
        raise InvalidInput("expires_days: a number of days", field="expires_days") from None


def allowed_tasks(text: str) -> list[str] | None:
    """One task (id, label or name=...) per line or comma; blank: every task."""
    entries = [e.strip() for line in text.splitlines() for e in line.split(",") if e.strip()]
    return entries or None


def router(door: WebDoor) -> APIRouter:
    pages = APIRouter(include_in_schema=False, route_class=PageRoute)
    services = door.services
    db = services.ctx.db

    @pages.get("/ui/keys")
    async def keys(request: Request) -> Response:
        visitor = await door.viewer(request, Role.ADMIN)
        return door.render(
            request, "keys.html", visitor, keys=await apikeys.list_keys(db), roles=list(Role)
        )

    @pages.post("/ui/keys")
    async def create_key(request: Request) -> Response:
        visitor = await door.acting(request, Role.ADMIN)
        form = await form_of(request)
        info, secret = await apikeys.create_key(
            db,
            name=form.get("name").strip(),
            role=parse_role(form.get("role")),
            expires_days=parse_days(form.get("expires_days")),
            allowed_tasks=allowed_tasks(form.get("allowed_tasks")),
            actor=visitor.caller.name,
        )
        # The one time the secret is shown: rendered into this answer, never stored.
        return door.render(
            request,
            "keys.html",
            visitor,
            keys=await apikeys.list_keys(db),
            roles=list(Role),
            made=info,
            secret=secret,
        )

    @pages.post("/ui/keys/{ref}/revoke")
    async def revoke_key(request: Request, ref: str) -> Response:
        visitor = await door.acting(request, Role.ADMIN)
        await apikeys.revoke_key(db, ref, actor=visitor.caller.name)
        return RedirectResponse("/ui/keys", 303)

    @pages.get("/ui/audit")
    async def audit_log(request: Request) -> Response:
        visitor = await door.viewer(request, Role.ADMIN)
        records = await audit.recent(db, AUDIT_SHOWN)
        return door.render(request, "audit.html", visitor, records=records)

    @pages.get("/ui/webhooks")
    async def webhooks(request: Request) -> Response:
        visitor = await door.viewer(request, Role.ADMIN)
        hooks = await services.webhooks.listing()
        chosen = request.query_params.get("webhook") or (hooks[0].id if hooks else None)
        deliveries = await services.webhooks.deliveries(chosen, DELIVERIES_SHOWN) if chosen else []
        return door.render(
            request, "webhooks.html", visitor, hooks=hooks, chosen=chosen, deliveries=deliveries
        )

    @pages.post("/ui/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver")
    async def redeliver(request: Request, webhook_id: str, delivery_id: int) -> Response:
        visitor = await door.acting(request, Role.ADMIN)
        await services.webhooks.redeliver(webhook_id, delivery_id, visitor.caller)
        return RedirectResponse(f"/ui/webhooks?webhook={webhook_id}", 303)

    return pages
