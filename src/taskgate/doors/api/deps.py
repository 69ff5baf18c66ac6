"""What route handlers receive: the services, and the caller checked for a role."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Header, Query, Request

from taskgate.core.authfailures import Source
from taskgate.core.services import Services
from taskgate.domain.apikeys import Role
from taskgate.domain.executions import Caller
from taskgate.domain.text import MAX_INT64
from taskgate.doors.state import services_of


async def services(request: Request) -> Services:
    # A plain `def` dependency would be run in a worker thread on every request.
    return services_of(request)


async def caller_of(
    request: Request, authorization: str | None, role: Role, *, execution_token: bool = False
) -> Caller:
    """Who sends `request` with this Authorization header, if they hold `role`."""
    source = Source("api", request.client.host if request.client else "")
    return await services_of(request).access.caller(
        authorization, role, source, takes_execution_token=execution_token
    )


def require(role: Role, *, execution_token: bool = False) -> Callable[..., Awaitable[Caller]]:
    async def dependency(
        request: Request, authorization: Annotated[str | None, Header()] = None
    ) -> Caller:
        return await caller_of(request, authorization, role, execution_token=execution_token)

    return dependency


Core = Annotated[Services, Depends(services)]
Viewer = Annotated[Caller, Depends(require(Role.VIEWER))]
Operator = Annotated[Caller, Depends(require(Role.OPERATOR))]
Admin = Annotated[Caller, Depends(require(Role.ADMIN))]
# The key-value routes also take a running execution's token (TASKGATE_TOKEN).
KvReader = Annotated[Caller, Depends(require(Role.VIEWER, execution_token=True))]
KvWriter = Annotated[Caller, Depends(require(Role.OPERATOR, execution_token=True))]
# The bounds of every list route's page: how many rows (default set by each route), from where.
PageLimit = Annotated[int, Query(ge=1, le=1000)]
PageOffset = Annotated[int, Query(ge=0, le=MAX_INT64)]
