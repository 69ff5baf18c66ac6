"""The records an execution's history is told from (domain/history.py), besides its own row
and attempts. Each query reads one small index range, so that a long audit log, delivery or
firing table costs a page little; nothing is written for the history on the run's path (its
two indexes, migration 0015_dash2, are on deliveries and chain firings only)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from taskgate.domain.history import AbortAsked, Firing
from taskgate.domain.webhooks import Delivery
from taskgate.store.tables import (
    audit_log,
    chain_firings,
    chains,
    executions,
    webhook_deliveries,
)

# A chain rule's window (or its timer) fires after the end that met it: how long after the
# end and the window such firings are still looked for.
LATER = timedelta(minutes=10)
# An abort is asked shortly before the end it causes (the kill grace): how far back from the
# end (or from now, while it is being aborted) its audit record is looked for. The audit log
# has a record per start, so the range read stays short.
ABORT_LOOKBACK = timedelta(minutes=15)
DELIVERIES_SHOWN = 100
FIRINGS_SHOWN = 100


def abort_asked(
    conn: Connection, execution_id: str, created: datetime, until: datetime
) -> AbortAsked | None:
    """The audit record of the abort asked for this execution (the latest), read backwards
    on the audit log's time index from `until` (the run's end, or now)."""
    since = max(created, until - ABORT_LOOKBACK)
    row = conn.execute(
        sa.select(audit_log.c.at, audit_log.c.actor, audit_log.c.details)
        .where(
            audit_log.c.at >= since,
            audit_log.c.at <= until,
            audit_log.c.action == "abort",
            audit_log.c.target == execution_id,
        )
        .order_by(audit_log.c.at.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    details = row.details if isinstance(row.details, dict) else {}
    return AbortAsked(at=row.at, by=row.actor, from_status=str(details.get("from", "")))


def deliveries_of(conn: Connection, execution_id: str) -> list[Delivery]:
    """This execution's webhook deliveries, oldest first (the first DELIVERIES_SHOWN)."""
    rows = conn.execute(
        sa.select(webhook_deliveries)
        .where(webhook_deliveries.c.execution_id == execution_id)
        .order_by(webhook_deliveries.c.id)
        .limit(DELIVERIES_SHOWN)
    )
    return [Delivery.model_validate(r._mapping) for r in rows]


def any_chain(conn: Connection) -> bool:
    """Whether any chain rule is stored (none: no end fired one, nothing to look for)."""
    return conn.execute(sa.select(chains.c.id).limit(1)).first() is not None


def firings_after(
    conn: Connection,
    execution_id: str,
    chains: Iterable[tuple[str, float]],
    ended: datetime,
) -> list[Firing]:
    """The firings of these rules (id, window in seconds) that name this execution among the
    ends that fired them: from its end until the rule's window closed."""
    found: list[Firing] = []
    for chain_id, window in chains:
        rows = conn.execute(
            sa.select(chain_firings)
            .where(
                chain_firings.c.chain_id == chain_id,
                chain_firings.c.at >= ended,
                chain_firings.c.at <= ended + timedelta(seconds=window) + LATER,
            )
            .order_by(chain_firings.c.id)
            .limit(FIRINGS_SHOWN)
        )
        found += [
            Firing(
                chain_id=r.chain_id,
                at=r.at,
                outcome=r.outcome,
                execution_ids=list(r.execution_ids or []),
                message=r.message,
            )
            for r in rows
            if execution_id in (r.triggered_by or [])
        ]
    return found


def retry_counts(conn: Connection, execution_ids: Iterable[str]) -> dict[str, int | None]:
    """Each execution's retry count, as its task said when the run was made."""
    wanted = list(execution_ids)
    counts: dict[str, int | None] = {}
    rows = conn.execute(
        sa.select(executions.c.id, executions.c.task_spec).where(executions.c.id.in_(wanted))
    )
    for row in rows:
        counts[row.id] = _retries(row.task_spec)
    return counts


def _retries(spec: Any) -> int | None:
    retries = spec.get("retries") if isinstance(spec, dict) else None
    count = retries.get("count") if isinstance(retries, dict) else None
    return count if isinstance(count, int) else None
