"""Checking start requests and writing them in the caller's transaction.

A request is resolved, its parameters validated against each task, each task admitted by its
concurrency policy; then its executions, audit record and idempotency record are added to a
batch that is written at once. Nothing is committed here: the service (or a trigger moving
its own state in the same transaction) commits.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from taskgate.core.clock import utcnow
from taskgate.core.kv import write_items
from taskgate.core.starts.bound import UNBOUNDED, QueueBound, QueueRoom
from taskgate.core.starts.request import (
    ExecutionRef,
    SelectorResult,
    StartedTask,
    StartRequest,
    StartResult,
)
from taskgate.core.starts.resolve import resolve
from taskgate.domain.errors import InvalidInput, TaskgateError
from taskgate.domain.events import ExecutionEvent
from taskgate.domain.kv import KvLimits
from taskgate.domain.params import validate_params
from taskgate.domain.selectors import GROUP_KINDS, Resolution, Selector, SelectorOutcome
from taskgate.domain.started import SkippedStart, start_succeeded
from taskgate.domain.status import EndReason, Status
from taskgate.domain.tasks import Overlap, Task
from taskgate.store import audit, idempotency, slots
from taskgate.store import executions as execution_rows


@dataclass
class _Pending:
    """What starts committed in one transaction write together, and what they share."""

    now: Any
    kv_limits: KvLimits
    room: QueueRoom
    # Executions per task running or waiting, counting the ones planned in this transaction.
    busy: dict[str, int] = field(default_factory=dict)
    found: dict[Selector, list[Task]] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    audits: list[dict[str, Any]] = field(default_factory=list)
    keys: list[dict[str, Any]] = field(default_factory=list)
    # Each execution row carries its task's definition; a batch dumps each task once.
    specs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def spec_of(self, task: Task) -> dict[str, Any]:
        spec = self.specs.get(task.key)
        if spec is None:
            spec = self.specs[task.key] = task.model_dump(mode="json")
        return spec

    def flush(self, conn: Connection) -> None:
        execution_rows.insert(conn, self.rows)
        audit.record_many(conn, self.audits)
        idempotency.put_many(conn, self.keys)


def write_start(
    conn: Connection,
    request: StartRequest,
    fingerprint: str,
    kv_limits: KvLimits,
    bound: QueueBound = UNBOUNDED,
) -> tuple[StartResult, list[ExecutionEvent]]:
    """Resolve, validate, and write executions, audit and idempotency record together."""
    pending = _Pending(utcnow(), kv_limits, bound.room())
    planned = _plan(conn, request, fingerprint, pending)
    pending.flush(conn)
    return planned


def write_starts(
    conn: Connection,
    requests: list[StartRequest],
    kv_limits: KvLimits,
    bound: QueueBound = UNBOUNDED,
) -> list[tuple[StartResult, list[ExecutionEvent]] | TaskgateError | None]:
    """Several starts in one transaction, each as `write_start` would write it alone.

    A request whose idempotency key is already stored (or used earlier in this batch) is
    left as None for the caller to replay after the commit; a request the rules refuse gets
    its error, and nothing of it is written.
    """
    pending = _Pending(utcnow(), kv_limits, bound.room())
    stored = idempotency.existing(
        conn, [(r.caller.scope, r.idempotency_key) for r in requests if r.idempotency_key]
    )
    outcomes: list[tuple[StartResult, list[ExecutionEvent]] | TaskgateError | None] = []
    for request in requests:
        key = request.idempotency_key
        if key is not None:
            if (request.caller.scope, key) in stored:
                outcomes.append(None)
                continue
            stored.add((request.caller.scope, key))
        fingerprint = request.fingerprint() if key else ""
        # Outside the savepoint below: a lock taken inside it would go with its rollback.
        pending.room.prepare(conn, request)
        was_locked = pending.room.locked
        try:
            if request.kv_items:
                # Key-value items are written before the rules are checked: keep them
                # only if this request is accepted.
                try:
                    with conn.begin_nested():
                        outcomes.append(_plan(conn, request, fingerprint, pending))
                except TaskgateError:
                    pending.room.rolled_back(was_locked)
                    raise
            else:
                outcomes.append(_plan(conn, request, fingerprint, pending))
        except TaskgateError as exc:
            if key is not None:
                stored.discard((request.caller.scope, key))
            outcomes.append(exc)
    pending.flush(conn)
    return outcomes


def _plan(
    conn: Connection, request: StartRequest, fingerprint: str, pending: _Pending
) -> tuple[StartResult, list[ExecutionEvent]]:
    """Check one request and add its rows to `pending`; nothing is added if a rule refuses it."""
    now = pending.now
    if request.checks is not None and request.checks.deadline is not None:
        raise InvalidInput(
            "checks.deadline: a deadline belongs to the task, not to one start",
            field="checks.deadline",
        )
    pending.room.prepare(conn, request)
    write_items(conn, request.kv_items, pending.kv_limits, now)
    resolved = resolve(
        conn,
        request.selectors,
        request.caller,
        canonical_ids=request.canonical_ids,
        found_cache=pending.found,
    )
    exempt = GROUP_KINDS if request.must_exist_exempts_groups else frozenset()
    blocking = request.all_must_exist and any(
        res.outcome in (SelectorOutcome.INVALID, SelectorOutcome.NOT_FOUND)
        and res.selector.kind not in exempt
        for res, _ in resolved
    )

    def blocked(res: Resolution) -> bool:
        return blocking and res.selector.kind not in exempt

    matched = {
        t.key: t
        for res, ts in resolved
        for t in ts
        if res.outcome is SelectorOutcome.MATCHED and t.enabled and not blocked(res)
    }
    params = {
        task_id: validate_params(task.params, request.params) for task_id, task in matched.items()
    }
    # Only a `skip` policy needs to know what is already running or queued.
    skipping = [
        i
        for i in params
        if matched[i].concurrency.overlap is Overlap.SKIP and i not in pending.busy
    ]
    if skipping:
        counted = slots.count_busy(conn, skipping)
        pending.busy.update({i: counted.get(i, 0) for i in skipping})
    # Counted into `pending` only once the queue's bound admitted the whole request.
    busy = dict(pending.busy)
    queued: list[Task] = []
    rows: list[dict[str, Any]] = []
    events: list[ExecutionEvent] = []
    results: list[SelectorResult] = []
    for res, tasks in resolved:
        entry = SelectorResult(
            selector=str(res.selector),
            outcome=res.outcome,
            message=res.message,
            denied_task_ids=res.denied_ids,
        )
        for task in tasks:
            if blocked(res):
                entry.tasks.append(_not_started(task, "not started: all_must_exist"))
                continue
            if not task.enabled:
                entry.tasks.append(_not_started(task, "task is disabled"))
                continue
            status, reason = _admission(task, busy.get(task.key, 0))
            if status is Status.QUEUED:
                busy[task.key] = busy.get(task.key, 0) + 1
                queued.append(task)
            row = _execution_row(
                task, pending.spec_of(task), request, params[task.key], status, reason, now
            )
            rows.append(row)
            events.append(
                ExecutionEvent.of(
                    task,
                    row["id"],
                    status,
                    now,
                    message=reason,
                    origin=request.origin,
                    created_at=now,
                    chain=request.chain,
                    parent_id=request.parent_id,
                    phase=request.phase,
                )
            )
            entry.tasks.append(
                StartedTask(
                    task_id=task.key,
                    task_name=task.name,
                    execution_id=row["id"],
                    status=status,
                    reason=reason,
                )
            )
        if blocked(res) and not entry.message:
            entry.message = "not started: all_must_exist and a selector failed"
        results.append(entry)
    pending.room.admit(conn, request, queued)
    pending.busy.update(busy)
    result = StartResult(
        results=results,
        executions=[
            ExecutionRef(
                id=r["id"],
                task_id=r["task_id"],
                task_name=r["task_name"],
                status=Status(r["status"]),
            )
            for r in rows
        ],
        started=sum(
            start_succeeded(r["id"], r["status"], skipped=SkippedStart.COUNTS_AS_NOT_STARTED)
            for r in rows
        ),
    )
    pending.rows.extend(rows)
    pending.audits.append(
        audit.entry(
            at=now,
            actor=request.caller.name,
            action="start",
            target=",".join(str(s) for s in request.selectors),
            details={"origin": request.origin, "executions": [r["id"] for r in rows]},
        )
    )
    if request.idempotency_key:
        pending.keys.append(
            {
                "scope": request.caller.scope,
                "key": request.idempotency_key,
                "request_hash": fingerprint,
                "response": result.model_dump(mode="json"),
                "created_at": now,
            }
        )
    return result, events


def write_one(
    conn: Connection, task: Task, request: StartRequest, bound: QueueBound = UNBOUNDED
) -> tuple[ExecutionRef, ExecutionEvent]:
    """Queue one execution of `task` as given, not looked up by selector: a task made for
    this start alone (an ad-hoc workflow, `taskgate run-phases`). Its parameters are
    validated against the task, and the queue's bound admits it; the audit record names the
    request's selectors."""
    now = utcnow()
    params = validate_params(task.params, request.params)
    bound.room().admit(conn, request, [task])
    row = _execution_row(
        task, task.model_dump(mode="json"), request, params, Status.QUEUED, "", now
    )
    execution_rows.insert(conn, [row])
    audit.record(
        conn,
        at=now,
        actor=request.caller.name,
        action="start",
        target=task.name,
        details={"origin": request.origin, "executions": [row["id"]]},
    )
    event = ExecutionEvent.of(
        task,
        row["id"],
        Status.QUEUED,
        now,
        origin=request.origin,
        created_at=now,
        parent_id=request.parent_id,
        phase=request.phase,
    )
    ref = ExecutionRef(id=row["id"], task_id=task.key, task_name=task.name, status=Status.QUEUED)
    return ref, event


def _not_started(task: Task, reason: str) -> StartedTask:
    return StartedTask(
        task_id=task.key,
        task_name=task.name,
        execution_id=None,
        status=Status.NEVER_STARTED,
        reason=reason,
    )


def _admission(task: Task, busy: int) -> tuple[Status, str]:
    policy = task.concurrency
    if policy.overlap is Overlap.SKIP and busy >= policy.max_running:
        return (
            Status.SKIPPED,
            f"skipped: {busy} already running or queued (max {policy.max_running})",
        )
    return Status.QUEUED, ""


def _execution_row(
    task: Task,
    spec: dict[str, Any],
    request: StartRequest,
    params: dict[str, Any],
    status: Status,
    message: str,
    now: Any,
) -> dict[str, Any]:
    if request.checks is not None:
        # This start's checks stand in for the task's: the run reads them from its snapshot.
        spec = {**spec, "checks": request.checks.model_dump(mode="json")}
    return {
        "id": str(uuid.uuid4()),
        "task_id": task.key,
        "task_name": task.name,
        "task_spec": spec,
        "status": status.value,
        "origin": request.origin,
        "caller": request.caller.name,
        "params": params,
        "created_at": now,
        "finished_at": now if status is Status.SKIPPED else None,
        "end_reason": EndReason.SKIPPED.value if status is Status.SKIPPED else None,
        "attempt_count": 0,
        "message": message,
        "log_size": 0,
        "log_dropped": 0,
        "parent_id": request.parent_id,
        "phase": request.phase,
        "chain_id": request.chain.chain_id if request.chain else None,
        "triggered_by": list(request.chain.triggered_by) if request.chain else None,
        "chain_depth": request.chain.depth if request.chain else None,
        "member": request.member,
        # What the run's token may use: where this start handed it values, and what its task
        # names (a job does not read another job's parameters).
        "kv_namespaces": sorted(
            {item.namespace for item in request.kv_items} | set(task.kv_namespaces)
        ),
    }
