"""Chain rules: list, read, create, replace, delete, and what each has fired."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel

from taskgate.domain.chains import CHAIN_ID_PATTERN, Chain, ChainSpec, Window
from taskgate.doors.api.deps import Admin, Core, PageLimit, Viewer

router = APIRouter(prefix="/api/v1/chains", tags=["chains"])
ChainId = Annotated[str, Path(pattern=CHAIN_ID_PATTERN)]


class WindowOut(BaseModel):
    """An `all` rule's open window: when it opened, when it expires, the ends it has."""

    opened_at: datetime
    expires_at: datetime
    met: dict[str, Any]

    @classmethod
    def of(cls, window: Window | None) -> WindowOut | None:
        if window is None:
            return None
        return cls(
            opened_at=window.opened_at,
            expires_at=window.expires_at,
            met={
                str(i): {"execution_id": t.execution_id, "status": t.status.value, "at": t.at}
                for i, t in sorted(window.met.items())
            },
        )


class ChainOut(Chain):
    open_window: WindowOut | None = None


class ChainList(BaseModel):
    items: list[Chain]


class Firing(BaseModel):
    id: int
    at: datetime
    outcome: str
    triggered_by: list[str]
    execution_ids: list[str]
    message: str


class FiringList(BaseModel):
    items: list[Firing]


async def _out(core: Core, chain: Chain) -> ChainOut:
    window = await core.chains.window(chain.id)
    return ChainOut.model_validate({**chain.model_dump(), "open_window": WindowOut.of(window)})


@router.get("", response_model=ChainList)
async def list_chains(core: Core, _: Viewer) -> ChainList:
    return ChainList(items=await core.chains.listing())


@router.post("", status_code=201, response_model=ChainOut)
async def create_chain(spec: ChainSpec, core: Core, caller: Admin) -> ChainOut:
    return await _out(core, await core.chains.create(spec, caller))


@router.get("/{chain_id}", response_model=ChainOut)
async def get_chain(chain_id: ChainId, core: Core, _: Viewer) -> ChainOut:
    return await _out(core, await core.chains.get(chain_id))


@router.put("/{chain_id}", response_model=ChainOut)
async def put_chain(
    chain_id: ChainId, spec: ChainSpec, core: Core, caller: Admin, response: Response
) -> ChainOut:
    chain, created = await core.chains.put(chain_id, spec, caller)
    if created:
        response.status_code = 201
    return await _out(core, chain)


@router.delete("/{chain_id}", status_code=204)
async def delete_chain(chain_id: ChainId, core: Core, caller: Admin) -> Response:
    await core.chains.delete(chain_id, caller)
    return Response(status_code=204)


@router.get("/{chain_id}/firings", response_model=FiringList)
async def list_firings(
    chain_id: ChainId,
    core: Core,
    _: Viewer,
    limit: PageLimit = 100,
) -> FiringList:
    """The newest first: which ends fired the rule, what it started (or why not)."""
    rows = await core.chains.firings(chain_id, limit)
    return FiringList(items=[Firing.model_validate(r) for r in rows if r["outcome"] != "pending"])
