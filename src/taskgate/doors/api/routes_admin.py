"""API keys and the audit log (admin only), and the health probes (open)."""

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import Field

from taskgate.core import apikeys, audit
from taskgate.domain.apikeys import MAX_EXPIRES_DAYS, Role
from taskgate.domain.model import Strict
from taskgate.doors.api.deps import Admin, Core, PageLimit

router = APIRouter(tags=["admin"])


class KeyCreate(Strict):
    name: str = Field(..., min_length=1, max_length=200)
    role: Role
    expires_days: float | None = Field(
        None, gt=0, le=MAX_EXPIRES_DAYS, allow_inf_nan=False, description="Days until it expires."
    )
    allowed_tasks: list[str] | None = None


@router.get("/api/v1/keys")
async def list_keys(core: Core, _: Admin) -> dict[str, Any]:
    return {"items": [k.to_dict() for k in await apikeys.list_keys(core.ctx.db)]}


@router.post("/api/v1/keys", status_code=201)
async def create_key(body: KeyCreate, core: Core, caller: Admin) -> dict[str, Any]:
    info, secret = await apikeys.create_key(
        core.ctx.db,
        name=body.name,
        role=body.role,
        expires_days=body.expires_days,
        allowed_tasks=body.allowed_tasks,
        actor=caller.name,
    )
    return {**info.to_dict(), "secret": secret}


@router.delete("/api/v1/keys/{ref}")
async def revoke_key(ref: str, core: Core, caller: Admin) -> dict[str, Any]:
    return (await apikeys.revoke_key(core.ctx.db, ref, actor=caller.name)).to_dict()


@router.get("/api/v1/audit")
async def audit_log(core: Core, _: Admin, limit: PageLimit = 100) -> dict[str, Any]:
    return {"items": await audit.recent(core.ctx.db, limit)}


@router.get("/healthz", tags=["health"])
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", tags=["health"])
async def readyz(core: Core) -> JSONResponse:
    try:
        await core.ctx.db.ping()
    except Exception as exc:
        return JSONResponse({"status": "not ready", "message": str(exc)}, status_code=503)
    if not core.readiness:
        return JSONResponse({"status": "ready"})
    checks = {name: check() for name, check in core.readiness.items()}
    body: dict[str, Any] = {
        "status": "ready" if all(ok for ok, _ in checks.values()) else "not ready",
        "checks": {"database": "ok", **{name: detail for name, (_, detail) in checks.items()}},
    }
    return JSONResponse(body, status_code=200 if body["status"] == "ready" else 503)
