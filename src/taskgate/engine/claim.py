"""Claiming: moving due executions to `started` within the concurrency limits, as attempts."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from taskgate.core.checks.judging import limits_while_running
from taskgate.core.clock import utcnow
from taskgate.domain.status import Status
from taskgate.domain.tasks import Overlap, Task
from taskgate.engine.leases import Holder
from taskgate.engine.runs import Run
from taskgate.store import executions as rows
from taskgate.store import holding, slots
from taskgate.store.executions import chain_link
from taskgate.store.specs import task_of_snapshot


def claim(conn: Connection, free: int, holder: Holder, only: str | None = None) -> list[Run]:
    """Move up to `free` due executions to `started`, within each task's concurrency limit,
    each leased to `holder` (`only`: that one execution, if it is due and has a slot)."""
    now = utcnow()  # inside the transaction: never before the start that created the row
    lease_until = holder.lease_from(now)
    claimed: list[Run] = []
    active: dict[str, int] = {}
    full: set[str] = set()  # tasks at their max_running: their queue waits
    first_limits: dict[str, float | None] = {}
    while len(claimed) < free:
        # As many rows as there are slots left: on PostgreSQL each row read is locked until
        # the commit (a run's end claims one, and reading ten locked nine that other claims
        # then skipped). A task at its limit turns rows away: the next look leaves it out.
        wanted = free - len(claimed)
        candidates = slots.claimable(conn, now, wanted, skip_tasks=full, only=only)
        if not candidates:
            break
        tasks = {c.id: task_of_snapshot(c.task_spec) for c in candidates}
        # Only tasks with a limit need to know how many of theirs hold a slot.
        limited = {
            c.task_id
            for c in candidates
            if tasks[c.id].concurrency.overlap is not Overlap.ALLOW and c.task_id not in active
        }
        if limited:
            # A task another server is claiming for right now waits for the next round.
            locked = slots.lock_tasks_for_claim(conn, limited)
            full |= limited - locked
            if locked:
                active.update(dict.fromkeys(locked, 0) | slots.count_active(conn, locked))
        changes: list[dict[str, Any]] = []
        for row in candidates:
            if len(claimed) >= free:
                break
            if row.task_id in full:
                continue
            task = tasks[row.id]
            policy = task.concurrency
            if policy.overlap is not Overlap.ALLOW:
                if active[row.task_id] >= policy.max_running:
                    full.add(row.task_id)
                    continue
                active[row.task_id] += 1
            number = row.attempt_count + 1
            changes.append(
                {
                    "eid": row.id,
                    "status": Status.STARTED.value,
                    "node": holder.node,
                    "instance": holder.instance,
                    "lease_until": lease_until,
                    "seen_at": now,
                    "started_at": row.started_at or now,
                    "attempt_count": number,
                    "not_before": None,
                    "overrun_at": _overrun_at(conn, task, now, first_limits),
                    # Celery: its message is spent; a later wait (a retry) needs one of its
                    # own. In this statement rather than one of its own: it is on every
                    # claim's path.
                    "published_at": None,
                }
            )
            claimed.append(
                Run(
                    row.id,
                    task,
                    number,
                    row.params,
                    row.log_size,
                    now,
                    row.origin,
                    row.created_at,
                    parent_id=row.parent_id,
                    chain=chain_link(row),
                    phase=row.phase,
                )
            )
        # Every due execution has been looked at (`only`: the one there is; a look that found
        # its task at the limit would find it again, as `only` skips no task), or no slot is
        # left.
        last = len(candidates) < wanted or only is not None or len(claimed) >= free
        if last and len(changes) == len(claimed) == 1:
            # The usual claim (a worker's message, a run's end freeing one slot, a start): one
            # statement for the execution and its attempt.
            holding.claim_one(conn, changes[0], _attempt_row(claimed[0], holder.node))
            return claimed
        # Before the next look: this transaction's own row locks do not hide them from it.
        rows.update_each(conn, changes)
        if last:
            break
    rows.insert_attempts(conn, [_attempt_row(run, holder.node) for run in claimed])
    return claimed


def _overrun_at(
    conn: Connection, task: Task, now: datetime, known: dict[str, float | None]
) -> datetime | None:
    """When this attempt passes its first running limit (max_duration, or the upper end of
    its learned band): the check watch announces it then. `known`: per task, this claim's."""
    if task.checks is None:
        return None
    if task.key not in known:
        limits = limits_while_running(conn, task.key, task.checks)
        known[task.key] = limits[0].seconds if limits else None
    seconds = known[task.key]
    return None if seconds is None else now + timedelta(seconds=seconds)


def _attempt_row(run: Run, node: str) -> dict[str, Any]:
    return {
        "execution_id": run.execution_id,
        "number": run.number,
        "status": Status.STARTED.value,
        "node": node,
        "started_at": run.started_at,
        "message": "",
    }
