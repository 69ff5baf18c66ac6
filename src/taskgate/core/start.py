"""The one function that starts tasks. Every door and every trigger comes through here."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from taskgate.core.clock import utcnow
from taskgate.core.context import CoreContext
from taskgate.core.executions import ExecutionService
from taskgate.core.groupcommit import GroupCommit
from taskgate.core.kv import write_items
from taskgate.domain.allowlist import allows
from taskgate.domain.errors import Conflict, InvalidInput, TaskgateError
from taskgate.domain.events import ExecutionEvent
from taskgate.domain.executions import Caller
from taskgate.domain.kv import KvLimits, KvWrite
from taskgate.domain.params import validate_params
from taskgate.domain.selectors import (
    GROUP_KINDS,
    MAX_SELECTORS,
    Resolution,
    Selector,
    SelectorKind,
    SelectorOutcome,
    TaskRef,
    is_task_id,
)
from taskgate.domain.started import SkippedStart, start_succeeded
from taskgate.domain.status import Status
from taskgate.domain.tasks import Overlap, Task
from taskgate.store import audit, idempotency
from taskgate.store import executions as execution_rows
from taskgate.store import tasks as task_rows

# Starts committed in one transaction at most; more wait for the next.
START_BATCH_MAX = 256


@dataclass
class StartRequest:
    selectors: list[Selector]
    origin: str
    caller: Caller
    params: dict[str, Any] = field(default_factory=dict)
    all_must_exist: bool = False
    # Butler's reading of all_must_exist: it covers only selectors that name one task; tag and
    # property selectors never block and are never blocked.
    must_exist_exempts_groups: bool = False
    # Accept ids only in the lower-case form Qlik writes (Butler's check); else any UUID case.
    canonical_ids: bool = False
    # Written in the start's transaction, before any execution is created.
    kv_items: list[KvWrite] = field(default_factory=list)
    idempotency_key: str | None = None
    wait: float = 0.0

    def fingerprint(self) -> str:
        body = {
            "selectors": [str(s) for s in self.selectors],
            "params": self.params,
            "all_must_exist": self.all_must_exist,
            "origin": self.origin,
            "kv": [vars(item) for item in self.kv_items],
        }
        return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


class StartedTask(BaseModel):
    task_id: str
    task_name: str
    execution_id: str | None
    status: Status
    reason: str = ""


class SelectorResult(BaseModel):
    selector: str
    outcome: SelectorOutcome
    message: str = ""
    # A factory, not `[]`: pydantic deep-copies a mutable default for every instance.
    tasks: list[StartedTask] = Field(default_factory=list)


class ExecutionRef(BaseModel):
    id: str
    task_id: str
    task_name: str
    status: Status


class StartResult(BaseModel):
    results: list[SelectorResult]
    executions: list[ExecutionRef]
    started: int
    timed_out: bool = False


@dataclass
class PendingStart:
    """A start written in a transaction that is not yet committed, with what to publish."""

    result: StartResult
    events: list[ExecutionEvent]
    replayed: bool = False
    # What the executor claimed in the same transaction; None: it did not try.
    claimed: Sequence[object] | None = None


class PreviewTask(BaseModel):
    task_id: str
    task_name: str
    enabled: bool


class PreviewResult(BaseModel):
    selector: str
    outcome: SelectorOutcome
    message: str = ""
    tasks: list[PreviewTask] = Field(default_factory=list)


def resolve(
    conn: Connection,
    selectors: list[Selector],
    caller: Caller,
    *,
    canonical_ids: bool = False,
    found_cache: dict[Selector, list[Task]] | None = None,
) -> list[tuple[Resolution, list[Task]]]:
    """Each selector with its outcome and the tasks it names (filter and allow-list applied).

    The order of the checks is Butler's: a malformed id is invalid before the start filter is
    asked, and a filtered selector is denied without looking the task up.
    """
    if len(selectors) > MAX_SELECTORS:
        # The doors refuse more in their own words first; this holds for every other caller.
        raise InvalidInput(f"selectors: at most {MAX_SELECTORS} at once", field="selectors")
    resolved: list[tuple[Resolution, list[Task]]] = []
    for selector in selectors:
        if selector.kind is SelectorKind.ID and not is_task_id(
            selector.value, canonical=canonical_ids
        ):
            message = f"{selector.value!r} is not a task id (UUID)"
            resolved.append((Resolution(selector, SelectorOutcome.INVALID, message=message), []))
            continue
        if caller.start_filter is not None and not caller.start_filter.allows(selector):
            message = "not allowed by the start filter"
            resolved.append((Resolution(selector, SelectorOutcome.DENIED, message=message), []))
            continue
        if found_cache is None:
            found = task_rows.find(conn, selector)
        else:
            # Starts committed together see the same tasks: look each selector up once.
            if selector not in found_cache:
                found_cache[selector] = task_rows.find(conn, selector)
            found = found_cache[selector]
        if not found:
            message = "no task matches"
            resolved.append((Resolution(selector, SelectorOutcome.NOT_FOUND, message=message), []))
            continue
        if caller.allowed_tasks is not None:
            found = [t for t in found if allows(caller.allowed_tasks, t)]
            if not found:
                message = "not on this caller's task allow-list"
                resolved.append((Resolution(selector, SelectorOutcome.DENIED, message=message), []))
                continue
        refs = [TaskRef(t.key, t.name, t.enabled) for t in found]
        resolved.append((Resolution(selector, SelectorOutcome.MATCHED, refs), found))
    return resolved


class StartService:
    def __init__(
        self, ctx: CoreContext, executions: ExecutionService, kv_limits: KvLimits | None = None
    ) -> None:
        self.ctx = ctx
        self.executions = executions
        self.kv_limits = kv_limits or KvLimits()
        self._together: GroupCommit[StartRequest, StartResult] = GroupCommit(
            self._start_together, batch_max=START_BATCH_MAX
        )

    async def preview(self, selectors: list[Selector], caller: Caller) -> list[PreviewResult]:
        resolved = await self.ctx.db.read(lambda conn: resolve(conn, selectors, caller))
        return [
            PreviewResult(
                selector=str(res.selector),
                outcome=res.outcome,
                message=res.message,
                tasks=[
                    PreviewTask(task_id=t.key, task_name=t.name, enabled=t.enabled) for t in tasks
                ],
            )
            for res, tasks in resolved
        ]

    async def start(self, request: StartRequest) -> StartResult:
        result = await self._start_once(request)
        if request.wait > 0 and result.executions:
            result = await self._wait_all(result, request.wait)
        return result

    async def _start_once(self, request: StartRequest) -> StartResult:
        """Committed with the starts that arrive at the same time (one transaction)."""
        return await self._together.submit(request)

    async def _start_together(self, requests: list[StartRequest]) -> list[StartResult | Exception]:
        try:
            return list(await self.start_many(requests))
        except Exception:
            if len(requests) == 1:
                raise
            # Whatever failed the batch must not fail the others: commit each alone.
            return [await self._start_alone_or_exception(r) for r in requests]

    async def _start_alone_or_exception(self, request: StartRequest) -> StartResult | Exception:
        try:
            return await self._start_alone(request)
        except Exception as exc:
            return exc

    async def _start_alone(self, request: StartRequest) -> StartResult:
        key = request.idempotency_key
        fingerprint = request.fingerprint() if key else ""
        if key:
            replay = await self._replay(request, fingerprint)
            if replay is not None:
                return replay
        try:
            pending = await self._commit_start(request, fingerprint)
        except IntegrityError:
            if key:
                # Another request with the same key committed first: answer as it did.
                replay = await self._replay(request, fingerprint)
                if replay is not None:
                    return replay
            raise
        self.after_commit(pending)
        if pending.claimed:
            # One turn of the loop lets the claimed runs spawn their processes before this
            # answer is serialised and sent: the trigger latency is the process running.
            await asyncio.sleep(0)
        return pending.result

    def start_in(self, conn: Connection, request: StartRequest) -> PendingStart:
        """The same start, as part of the caller's own transaction on `conn` (a trigger that
        must move its own state in the same commit). Call `after_commit` once it committed.

        A key already used answers as before (`replayed`); `wait` is not honoured here.
        A TaskgateError (bad parameters, a key reused for another request) is raised before
        anything is written, so the caller's transaction can go on without this start.
        """
        key = request.idempotency_key
        fingerprint = request.fingerprint() if key else ""
        if key:
            row = idempotency.get(conn, request.caller.scope, key)
            if row is not None:
                return PendingStart(_replayed(row, fingerprint), [], replayed=True)
        result, events = _commit(conn, request, fingerprint, self.kv_limits)
        return PendingStart(result, events)

    def start_many_in(
        self, conn: Connection, requests: list[StartRequest]
    ) -> list[PendingStart | TaskgateError]:
        """`start_in` for several requests at once, sharing lookups and writing their rows
        together (what the scheduler does with the schedules due in one slot). Each answer is
        what `start_in` would give for that request alone: a refusal writes nothing of it."""
        outcomes = _commit_batch(conn, requests, self.kv_limits)
        answers: list[PendingStart | TaskgateError] = []
        for request, outcome in zip(requests, outcomes, strict=True):
            if outcome is None:
                # Its key was stored before (or earlier in this batch): answer as then.
                assert request.idempotency_key is not None
                row = idempotency.get(conn, request.caller.scope, request.idempotency_key)
                assert row is not None
                try:
                    replay = _replayed(row, request.fingerprint())
                except TaskgateError as exc:
                    answers.append(exc)
                    continue
                answers.append(PendingStart(replay, [], replayed=True))
            elif isinstance(outcome, TaskgateError):
                answers.append(outcome)
            else:
                answers.append(PendingStart(*outcome))
        return answers

    def after_commit(self, pending: PendingStart) -> None:
        """Tell the listeners and the executor about a start that is now on disk."""
        for event in pending.events:
            self.ctx.bus.publish(event)
        self.hand_over(pending.claimed, started=bool(pending.result.started))

    def hand_over(self, claimed: Sequence[object] | None, *, started: bool) -> None:
        """Run what was claimed in a start's transaction, or wake the executor."""
        executor = self.ctx.executor
        if executor is None:
            return
        if claimed is not None:
            executor.launch(claimed)
        elif started:
            executor.notify()

    def claim_in(self, conn: Connection, started: bool) -> Sequence[object] | None:
        """Let the executor claim the new executions in the start's transaction; what it
        claimed goes to `hand_over` after the commit (None: it did not claim)."""
        executor = self.ctx.executor
        if executor is None or not started:
            return None
        return executor.claim_in(conn)

    async def start_many(self, requests: list[StartRequest]) -> list[StartResult | TaskgateError]:
        """Several starts committed in one transaction: each answer means it is on disk.

        Each request is treated as `start` would treat it alone (same rules, same idempotency
        replay), but one commit carries them all, which is what lets a burst of small triggers
        (MQTT messages) reach thousands of starts per second. `wait` is not honoured here.
        A request the rules refuse gets its error in its place; the others still commit.
        """
        if not requests:
            return []

        def work(
            conn: Connection,
        ) -> tuple[list[tuple[StartResult, list[ExecutionEvent]] | TaskgateError | None], Any]:
            outcomes = _commit_batch(conn, requests, self.kv_limits)
            started = any(isinstance(o, tuple) and o[0].started for o in outcomes)
            return outcomes, self.claim_in(conn, started)

        try:
            outcomes, claimed = await self.ctx.db.write(work)
        except IntegrityError:
            # A key was committed by another request meanwhile: take them one by one.
            return [await self._start_or_error(r) for r in requests]
        answers: list[StartResult | TaskgateError] = []
        for request, outcome in zip(requests, outcomes, strict=True):
            if outcome is None:
                answers.append(await self._start_or_error(request))
            elif isinstance(outcome, TaskgateError):
                answers.append(outcome)
            else:
                # The executor hears of the batch once, below.
                self.after_commit(PendingStart(*outcome, claimed=()))
                answers.append(outcome[0])
        started = any(not isinstance(a, TaskgateError) and a.started for a in answers)
        self.hand_over(claimed, started=started)
        return answers

    async def _start_or_error(self, request: StartRequest) -> StartResult | TaskgateError:
        try:
            return await self._start_alone(request)
        except TaskgateError as exc:
            return exc

    async def _replay(self, request: StartRequest, fingerprint: str) -> StartResult | None:
        assert request.idempotency_key is not None
        key = request.idempotency_key
        row = await self.ctx.db.read(lambda conn: idempotency.get(conn, request.caller.scope, key))
        if row is None:
            return None
        return _replayed(row, fingerprint)

    async def _wait_all(self, result: StartResult, timeout: float) -> StartResult:
        ids = [e.id for e in result.executions]
        outcomes = await asyncio.gather(*(self.executions.wait(i, timeout) for i in ids))
        final = {execution.id: execution.status for execution, _ in outcomes}
        timed_out = any(t for _, t in outcomes)
        for ref in result.executions:
            ref.status = final.get(ref.id, ref.status)
        for entry in result.results:
            for started in entry.tasks:
                if started.execution_id in final:
                    started.status = final[started.execution_id]
        result.timed_out = timed_out
        return result

    async def _commit_start(self, request: StartRequest, fingerprint: str) -> PendingStart:
        def work(conn: Connection) -> PendingStart:
            result, events = _commit(conn, request, fingerprint, self.kv_limits)
            return PendingStart(result, events, claimed=self.claim_in(conn, bool(result.started)))

        return await self.ctx.db.write(work)


@dataclass
class _Pending:
    """What starts committed in one transaction write together, and what they share."""

    now: Any
    kv_limits: KvLimits
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


def _commit(
    conn: Connection, request: StartRequest, fingerprint: str, kv_limits: KvLimits
) -> tuple[StartResult, list[ExecutionEvent]]:
    """Resolve, validate, and write executions, audit and idempotency record together."""
    pending = _Pending(utcnow(), kv_limits)
    planned = _plan(conn, request, fingerprint, pending)
    pending.flush(conn)
    return planned


def _commit_batch(
    conn: Connection, requests: list[StartRequest], kv_limits: KvLimits
) -> list[tuple[StartResult, list[ExecutionEvent]] | TaskgateError | None]:
    """Several starts in one transaction, each as `_commit` would do it alone.

    A request whose idempotency key is already stored (or used earlier in this batch) is
    left as None for the caller to replay after the commit; a request the rules refuse gets
    its error, and nothing of it is written.
    """
    pending = _Pending(utcnow(), kv_limits)
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
        try:
            if request.kv_items:
                # Key-value items are written before the rules are checked: keep them
                # only if this request is accepted.
                with conn.begin_nested():
                    outcomes.append(_plan(conn, request, fingerprint, pending))
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
        counted = execution_rows.count_busy(conn, skipping)
        pending.busy.update({i: counted.get(i, 0) for i in skipping})
    busy = pending.busy
    rows: list[dict[str, Any]] = []
    events: list[ExecutionEvent] = []
    results: list[SelectorResult] = []
    for res, tasks in resolved:
        entry = SelectorResult(selector=str(res.selector), outcome=res.outcome, message=res.message)
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


def _replayed(row: Any, fingerprint: str) -> StartResult:
    if row.request_hash != fingerprint:
        raise Conflict(
            "Idempotency-Key was already used with a different request",
            field="Idempotency-Key",
        )
    return StartResult.model_validate(row.response)


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
        "attempt_count": 0,
        "message": message,
        "log_size": 0,
        "log_dropped": 0,
    }
