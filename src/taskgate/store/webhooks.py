"""Webhook subscriptions and the deliveries owed to them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from taskgate.domain.webhooks import Delivery, DeliveryState, Webhook
from taskgate.store.definitions import DefinitionRows
from taskgate.store.skiplocked import skip_locked
from taskgate.store.tables import webhook_deliveries, webhooks

_HOOKS = DefinitionRows(webhooks, Webhook, ("id", "source", "created_at", "updated_at"))


def get(conn: Connection, webhook_id: str) -> Webhook | None:
    return _HOOKS.get(conn, webhook_id)


def listing(conn: Connection) -> list[Webhook]:
    return _HOOKS.listing(conn)


def save(conn: Connection, hook: Webhook, *, insert: bool) -> None:
    _HOOKS.save(conn, hook, insert=insert)


def delete(conn: Connection, webhook_id: str) -> None:
    conn.execute(webhook_deliveries.delete().where(webhook_deliveries.c.webhook_id == webhook_id))
    conn.execute(webhooks.delete().where(webhooks.c.id == webhook_id))


def delete_from_source(conn: Connection, source: str, keep: set[str]) -> None:
    gone = conn.execute(
        sa.select(webhooks.c.id).where(webhooks.c.source == source, webhooks.c.id.not_in(keep))
    ).scalars()
    for webhook_id in list(gone):
        delete(conn, webhook_id)


def _delivery(row: sa.Row[Any]) -> Delivery:
    return Delivery.model_validate(row._mapping)


def add_deliveries(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(webhook_deliveries.insert(), rows)


def claim_due(
    conn: Connection, now: datetime, lease_until: datetime, limit: int
) -> list[sa.Row[Any]]:
    """Pending deliveries due now; each is leased (moved to `lease_until`) so that another
    process sending webhooks from the same database leaves it alone meanwhile."""
    query = (
        sa.select(webhook_deliveries)
        .where(
            webhook_deliveries.c.state == DeliveryState.PENDING.value,
            webhook_deliveries.c.next_attempt_at <= now,
        )
        .order_by(webhook_deliveries.c.next_attempt_at, webhook_deliveries.c.id)
        .limit(limit)
    )
    rows = list(conn.execute(skip_locked(conn, query)))
    if rows:
        conn.execute(
            webhook_deliveries.update()
            .where(webhook_deliveries.c.id.in_([r.id for r in rows]))
            .values(next_attempt_at=lease_until)
        )
    return rows


def next_due(conn: Connection) -> datetime | None:
    query = sa.select(sa.func.min(webhook_deliveries.c.next_attempt_at)).where(
        webhook_deliveries.c.state == DeliveryState.PENDING.value
    )
    value: datetime | None = conn.execute(query).scalar()
    return value


def update(conn: Connection, delivery_id: int, **values: Any) -> None:
    conn.execute(
        webhook_deliveries.update().where(webhook_deliveries.c.id == delivery_id).values(**values)
    )


def get_delivery(conn: Connection, webhook_id: str, delivery_id: int) -> Delivery | None:
    row = conn.execute(
        sa.select(webhook_deliveries).where(
            webhook_deliveries.c.id == delivery_id, webhook_deliveries.c.webhook_id == webhook_id
        )
    ).first()
    return _delivery(row) if row else None


def deliveries(conn: Connection, webhook_id: str, limit: int) -> list[Delivery]:
    rows = conn.execute(
        sa.select(webhook_deliveries)
        .where(webhook_deliveries.c.webhook_id == webhook_id)
        .order_by(webhook_deliveries.c.id.desc())
        .limit(limit)
    )
    return [_delivery(r) for r in rows]
