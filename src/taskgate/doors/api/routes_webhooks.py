"""Webhook subscriptions and their deliveries (admin). Secrets are write-only."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel

from taskgate.domain.status import Status
from taskgate.domain.text import MAX_INT32
from taskgate.domain.webhooks import Delivery, Webhook, WebhookSpec
from taskgate.doors.api.deps import Admin, Core, PageLimit

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])


class WebhookOut(BaseModel):
    id: str
    name: str
    url: str
    statuses: list[Status]
    tasks: list[str]
    tags: list[str]
    enabled: bool
    source: Literal["api", "config"]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, hook: Webhook) -> WebhookOut:
        return cls.model_validate(hook.model_dump(exclude={"secret"}))


class WebhookList(BaseModel):
    items: list[WebhookOut]


class DeliveryList(BaseModel):
    items: list[Delivery]


@router.get("", response_model=WebhookList)
async def list_webhooks(core: Core, _: Admin) -> WebhookList:
    return WebhookList(items=[WebhookOut.of(h) for h in await core.webhooks.listing()])


@router.post("", response_model=WebhookOut, status_code=201)
async def create_webhook(spec: WebhookSpec, core: Core, caller: Admin) -> WebhookOut:
    return WebhookOut.of(await core.webhooks.create(spec, caller))


@router.get("/{webhook_id}", response_model=WebhookOut)
async def get_webhook(webhook_id: str, core: Core, _: Admin) -> WebhookOut:
    return WebhookOut.of(await core.webhooks.get(webhook_id))


@router.put("/{webhook_id}", response_model=WebhookOut)
async def put_webhook(webhook_id: str, spec: WebhookSpec, core: Core, caller: Admin) -> WebhookOut:
    return WebhookOut.of(await core.webhooks.put(webhook_id, spec, caller))


@router.delete("/{webhook_id}", status_code=204)
async def delete_webhook(webhook_id: str, core: Core, caller: Admin) -> Response:
    await core.webhooks.delete(webhook_id, caller)
    return Response(status_code=204)


@router.get("/{webhook_id}/deliveries", response_model=DeliveryList)
async def list_deliveries(
    webhook_id: str,
    core: Core,
    _: Admin,
    limit: PageLimit = 100,
) -> DeliveryList:
    """The newest deliveries first: state, attempts, the last answer or error."""
    return DeliveryList(items=await core.webhooks.deliveries(webhook_id, limit))


@router.post("/{webhook_id}/deliveries/{delivery_id}/redeliver", response_model=Delivery)
async def redeliver(
    webhook_id: str,
    delivery_id: Annotated[int, Path(ge=1, le=MAX_INT32)],
    core: Core,
    caller: Admin,
) -> Delivery:
    """Send a delivery again now, with a fresh set of attempts."""
    return await core.webhooks.redeliver(webhook_id, delivery_id, caller)
