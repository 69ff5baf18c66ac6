"""Webhook subscriptions, and the deliveries owed to them, persisted so retries survive a
restart. The sending itself is the webhook door's (doors/webhooks)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar

from sqlalchemy import Connection

from taskgate.core.clock import utcnow
from taskgate.core.context import CoreContext
from taskgate.domain.errors import Conflict, NotFound
from taskgate.domain.events import ExecutionEvent
from taskgate.domain.executions import Caller
from taskgate.domain.webhooks import (
    Delivery,
    DeliveryRetryPolicy,
    DeliveryState,
    Webhook,
    WebhookSpec,
)
from taskgate.store import audit
from taskgate.store import webhooks as rows

T = TypeVar("T")


@dataclass(frozen=True)
class DueDelivery:
    id: int
    webhook: Webhook
    payload: dict[str, Any]
    attempts: int


class WebhookService:
    def __init__(self, ctx: CoreContext, policy: DeliveryRetryPolicy) -> None:
        self.ctx = ctx
        self.policy = policy
        # Set when deliveries are added or made due again, so the sender looks at once.
        self.due = asyncio.Event()
        self._hooks: list[Webhook] = []
        # Attempts that failed in this process since it started (for metrics).
        self.failed_attempts = 0

    # --- subscriptions -------------------------------------------------------------------

    async def load(self) -> None:
        """Read the subscriptions that events are matched against (after every change)."""
        self._hooks = await self.ctx.db.read(rows.listing)

    def subscribed(self) -> bool:
        return any(hook.enabled for hook in self._hooks)

    async def listing(self) -> list[Webhook]:
        return await self.ctx.db.read(rows.listing)

    async def get(self, webhook_id: str) -> Webhook:
        found = await self.ctx.db.read(lambda conn: rows.get(conn, webhook_id))
        if found is None:
            raise NotFound.named("webhook", webhook_id)
        return found

    async def create(self, spec: WebhookSpec, caller: Caller) -> Webhook:
        def work(conn: Connection) -> Webhook:
            if spec.id is not None and rows.get(conn, spec.id) is not None:
                raise Conflict(f"webhook {spec.id!r} already exists", field="id")
            return _save(conn, spec, None, caller, "api")

        return await self._changing(work)

    async def put(self, webhook_id: str, spec: WebhookSpec, caller: Caller) -> Webhook:
        def work(conn: Connection) -> Webhook:
            existing = rows.get(conn, webhook_id)
            return _save(conn, spec.model_copy(update={"id": webhook_id}), existing, caller, "api")

        return await self._changing(work)

    async def delete(self, webhook_id: str, caller: Caller) -> None:
        def work(conn: Connection) -> None:
            found = rows.get(conn, webhook_id)
            if found is None:
                raise NotFound.named("webhook", webhook_id)
            rows.delete(conn, webhook_id)
            audit.record(
                conn, at=utcnow(), actor=caller.name, action="webhook.delete", target=webhook_id
            )

        await self._changing(work)

    async def sync_from_config(self, specs: Iterable[WebhookSpec], caller: Caller) -> None:
        """Make the database hold the config's webhooks; ones made over the API stay."""
        declared = list(specs)

        def work(conn: Connection) -> None:
            for spec in declared:
                assert spec.id is not None
                existing = rows.get(conn, spec.id)
                if (
                    existing is None
                    or WebhookSpec.model_validate(
                        existing.model_dump(include=set(WebhookSpec.model_fields))
                    )
                    != spec
                ):
                    _save(conn, spec, existing, caller, "config")
            rows.delete_from_source(conn, "config", {str(s.id) for s in declared})

        await self._changing(work)

    async def _changing(self, work: Callable[[Connection], T]) -> T:
        result = await self.ctx.db.write(work)
        await self.load()
        return result

    # --- deliveries ----------------------------------------------------------------------

    async def enqueue(self, events: list[ExecutionEvent]) -> int:
        """Record a delivery for every subscription each event matches; how many."""
        now = utcnow()
        owed = [
            {
                "webhook_id": hook.id,
                "execution_id": event.execution_id,
                "event_status": event.status.value,
                "payload": event.to_payload(),
                "state": DeliveryState.PENDING.value,
                "attempts": 0,
                "last_error": "",
                "next_attempt_at": now,
                "created_at": now,
            }
            for event in events
            for hook in self._hooks
            if hook.matches(event)
        ]
        if owed:
            await self.ctx.db.write(lambda conn: rows.add_deliveries(conn, owed))
            self.due.set()
        return len(owed)

    async def claim(self, limit: int, lease: timedelta) -> list[DueDelivery]:
        now = utcnow()

        def work(conn: Connection) -> list[DueDelivery]:
            claimed: list[DueDelivery] = []
            hooks: dict[str, Webhook | None] = {}
            for row in rows.claim_due(conn, now, now + lease, limit):
                if row.webhook_id not in hooks:
                    hooks[row.webhook_id] = rows.get(conn, row.webhook_id)
                hook = hooks[row.webhook_id]
                if hook is None:
                    continue
                claimed.append(DueDelivery(row.id, hook, row.payload, row.attempts))
            return claimed

        return await self.ctx.db.write(work)

    async def next_due(self) -> datetime | None:
        return await self.ctx.db.read(rows.next_due)

    async def record(self, due: DueDelivery, status_code: int | None, error: str) -> None:
        """The end of one attempt: delivered on a 2xx, else retried later or given up."""
        now = utcnow()
        attempts = due.attempts + 1
        values: dict[str, Any] = {
            "attempts": attempts,
            "last_status_code": status_code,
            "last_error": error[:2000],
        }
        if status_code is not None and 200 <= status_code < 300:
            values.update(
                state=DeliveryState.DELIVERED.value, delivered_at=now, next_attempt_at=None
            )
        elif self.policy.gives_up_after(attempts):
            self.failed_attempts += 1
            values.update(state=DeliveryState.FAILED.value, next_attempt_at=None)
        else:
            self.failed_attempts += 1
            values.update(next_attempt_at=now + self.policy.delay_after(attempts))
        await self.ctx.db.write(lambda conn: rows.update(conn, due.id, **values))

    async def deliveries(self, webhook_id: str, limit: int = 100) -> list[Delivery]:
        await self.get(webhook_id)
        return await self.ctx.db.read(lambda conn: rows.deliveries(conn, webhook_id, limit))

    async def redeliver(self, webhook_id: str, delivery_id: int, caller: Caller) -> Delivery:
        """Send a delivery again now (delivered or failed alike), with a fresh set of attempts."""

        def work(conn: Connection) -> Delivery:
            found = rows.get_delivery(conn, webhook_id, delivery_id)
            if found is None:
                raise NotFound(
                    f"delivery {delivery_id} of webhook {webhook_id!r} not found", field="delivery"
                )
            now = utcnow()
            rows.update(
                conn,
                delivery_id,
                state=DeliveryState.PENDING.value,
                attempts=0,
                next_attempt_at=now,
                delivered_at=None,
            )
            audit.record(
                conn,
                at=now,
                actor=caller.name,
                action="webhook.redeliver",
                target=f"{webhook_id}/{delivery_id}",
            )
            redelivered = rows.get_delivery(conn, webhook_id, delivery_id)
            assert redelivered is not None
            return redelivered

        delivery = await self.ctx.db.write(work)
        self.due.set()
        return delivery


def _save(
    conn: Connection,
    spec: WebhookSpec,
    existing: Webhook | None,
    caller: Caller,
    source: Literal["api", "config"],
) -> Webhook:
    now = utcnow()
    hook = Webhook.model_validate(
        {
            **spec.model_dump(exclude={"id"}),
            "id": spec.id or str(uuid.uuid4()),
            "source": source,
            "created_at": existing.created_at if existing else now,
            "updated_at": now,
        }
    )
    rows.save(conn, hook, insert=existing is None)
    audit.record(
        conn,
        at=now,
        actor=caller.name,
        action="webhook.create" if existing is None else "webhook.update",
        target=hook.id,
        details={"url": hook.url},
    )
    return hook
