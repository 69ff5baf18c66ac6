"""The start service: the one function that starts tasks. Every door and trigger calls it."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from taskgate.core.context import CoreContext
from taskgate.core.executions import ExecutionService
from taskgate.core.groupcommit import GroupCommit
from taskgate.core.starts.bound import QueueBound
from taskgate.core.starts.plan import write_one, write_start, write_starts
from taskgate.core.starts.request import (
    ExecutionRef,
    PendingStart,
    PreviewResult,
    PreviewTask,
    StartRequest,
    StartResult,
)
from taskgate.core.starts.resolve import resolve
from taskgate.domain.errors import Conflict, TaskgateError
from taskgate.domain.events import ExecutionEvent
from taskgate.domain.executions import Caller
from taskgate.domain.kv import KvLimits
from taskgate.domain.selectors import Selector
from taskgate.domain.tasks import Task
from taskgate.store import idempotency

# Starts committed in one transaction at most; more wait for the next.
START_BATCH_MAX = 256


class StartService:
    def __init__(
        self,
        ctx: CoreContext,
        executions: ExecutionService,
        kv_limits: KvLimits | None = None,
        bound: QueueBound | None = None,
    ) -> None:
        self.ctx = ctx
        self.executions = executions
        self.kv_limits = kv_limits or KvLimits()
        # The bound on executions waiting to run (core/starts/bound.py), and its refusals.
        self.bound = bound or QueueBound()
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
        result, events = write_start(conn, request, fingerprint, self.kv_limits, self.bound)
        return PendingStart(result, events)

    def start_many_in(
        self, conn: Connection, requests: list[StartRequest]
    ) -> list[PendingStart | TaskgateError]:
        """`start_in` for several requests at once, sharing lookups and writing their rows
        together (what the scheduler does with the schedules due in one slot). Each answer is
        what `start_in` would give for that request alone: a refusal writes nothing of it."""
        outcomes = write_starts(conn, requests, self.kv_limits, self.bound)
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

    def write_one(
        self, conn: Connection, task: Task, request: StartRequest
    ) -> tuple[ExecutionRef, ExecutionEvent]:
        """`plan.write_one` under this service's queue bound."""
        return write_one(conn, task, request, self.bound)

    def after_commit(self, pending: PendingStart) -> None:
        """Tell the listeners and the executor about a start that is now on disk."""
        self.hand_over(pending.claimed, started=bool(pending.result.started), news=pending.events)

    def hand_over(
        self,
        claimed: Sequence[object] | None,
        *,
        started: bool,
        news: Sequence[ExecutionEvent] = (),
    ) -> None:
        """Run what was claimed in a start's transaction, or wake the executor; `news`, the
        start's events, is published before any event of the runs (by the executor, which
        spawns the claimed runs' processes first: the trigger latency is the process
        running)."""
        executor = self.ctx.executor
        if executor is not None and claimed:
            executor.launch(claimed, news)
            return
        for event in news:
            self.ctx.bus.publish(event)
        if executor is not None and claimed is None and started:
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
            outcomes = write_starts(conn, requests, self.kv_limits, self.bound)
            started = any(isinstance(o, tuple) and o[0].started for o in outcomes)
            return outcomes, self.claim_in(conn, started)

        try:
            outcomes, claimed = await self.ctx.db.write(work)
        except IntegrityError:
            # A key was committed by another request meanwhile: take them one by one.
            return [await self._start_or_error(r) for r in requests]
        answers: list[StartResult | TaskgateError] = []
        news: list[ExecutionEvent] = []
        for request, outcome in zip(requests, outcomes, strict=True):
            if outcome is None:
                answers.append(await self._start_or_error(request))
            elif isinstance(outcome, TaskgateError):
                answers.append(outcome)
            else:
                # The executor and the listeners hear of the batch once, below.
                news += outcome[1]
                answers.append(outcome[0])
        started = any(not isinstance(a, TaskgateError) and a.started for a in answers)
        self.hand_over(claimed, started=started, news=news)
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
            result, events = write_start(conn, request, fingerprint, self.kv_limits, self.bound)
            return PendingStart(result, events, claimed=self.claim_in(conn, bool(result.started)))

        return await self.ctx.db.write(work)


def _replayed(row: Any, fingerprint: str) -> StartResult:
    if row.request_hash != fingerprint:
        raise Conflict(
            "Idempotency-Key was already used with a different request",
            field="Idempotency-Key",
        )
    return StartResult.model_validate(row.response).model_copy(update={"replayed": True})
