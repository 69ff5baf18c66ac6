"""Firing the schedules that are due.

Firing is one transaction per batch of due schedules: each due row is locked (PostgreSQL:
`FOR UPDATE SKIP LOCKED`; SQLite: the write lock `BEGIN IMMEDIATE` takes), its runs are
started through `StartService.start_many_in` with an idempotency key made of the schedule id
and the slot, its history is written and its next slot stored - all committed together. So a
slot starts one run, however many server processes fire schedules from the same database,
and a crash either loses nothing of a firing or all of it (the slot is then still due).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from taskgate.core.clock import utcnow
from taskgate.core.context import CoreContext
from taskgate.core.schedules.slots import fire_time
from taskgate.core.starts.request import PendingStart, StartRequest
from taskgate.core.starts.service import StartService
from taskgate.domain.errors import TaskgateError
from taskgate.domain.executions import Caller
from taskgate.domain.selectors import Selector, SelectorKind, SelectorOutcome
from taskgate.schedules import misfire, triggers
from taskgate.schedules.spec import FireOutcome, Schedule
from taskgate.store import schedules as rows

log = logging.getLogger(__name__)
# Schedules fired per transaction: large enough to amortise a commit, small enough that a
# burst of due schedules does not hold the write lock for long.
BATCH = 50


class ScheduleFiring:
    def __init__(self, ctx: CoreContext, starts: StartService) -> None:
        self.ctx = ctx
        self.starts = starts

    async def fire_due(self) -> datetime | None:
        """Fire every schedule that is due; the earliest fire time still ahead (or None)."""
        while True:
            pending, claimed, next_due, full = await self.ctx.db.write(self._fire_batch)
            for started in pending:
                self.starts.after_commit(replace(started, claimed=()))
            self.starts.hand_over(claimed, started=any(p.result.started for p in pending))
            if not full:
                return next_due

    def _fire_batch(
        self, conn: Connection
    ) -> tuple[list[PendingStart], Sequence[object] | None, datetime | None, bool]:
        now = utcnow()
        due = rows.claim_due(conn, now, BATCH)
        firings = [self._plan_fire(schedule, now) for schedule in due]
        # The runs of every schedule due now start together: one lookup per task, one insert
        # for all their executions (a slot that thirty schedules share costs little more).
        answers = iter(self.starts.start_many_in(conn, [r for f in firings for r in f.requests]))
        pending: list[PendingStart] = []
        history: list[dict[str, Any]] = []
        moves: list[dict[str, Any]] = []
        for firing in firings:
            started = [next(answers) for _ in firing.requests]
            pending.extend(self._record_fire(firing, started, now, history, moves))
        rows.add_history(conn, history)
        rows.set_next(conn, moves)
        full = len(due) == BATCH
        claimed = self.starts.claim_in(conn, any(p.result.started for p in pending))
        return pending, claimed, None if full else rows.next_due(conn), full

    def _plan_fire(self, schedule: Schedule, now: datetime) -> _Firing:
        """Which slots of one due schedule run, skip or fail, and the starts they need."""
        assert schedule.next_slot is not None and schedule.next_fire_at is not None
        try:
            trigger = triggers.build(schedule, schedule.created_at)
            plan = misfire.plan(
                trigger,
                slot=schedule.next_slot,
                fire_at=schedule.next_fire_at,
                now=now,
                policy=schedule.misfire,
                grace=timedelta(seconds=schedule.misfire_grace_seconds),
                limit=schedule.misfire_limit,
            )
        except Exception as exc:
            # A stored spec that no longer builds (a zone gone from the tz database), or a
            # bug: stop this schedule rather than let it block every other one.
            if isinstance(exc, TaskgateError):
                reason = exc.message
            else:
                log.exception("schedule %s: cannot compute its slots", schedule.id)
                reason = f"internal error ({type(exc).__name__}; see the server log)"
            return _Firing(schedule, None, [], f"{reason}; stopped")
        return _Firing(schedule, plan, [_request(schedule, run.slot) for run in plan.runs], "")

    def _record_fire(
        self,
        firing: _Firing,
        answers: list[PendingStart | TaskgateError],
        now: datetime,
        history: list[dict[str, Any]],
        moves: list[dict[str, Any]],
    ) -> list[PendingStart]:
        """Add one schedule's history and move to the lists; the starts to announce."""
        schedule, plan = firing.schedule, firing.plan
        assert schedule.next_slot is not None and schedule.next_fire_at is not None
        due_at = schedule.next_fire_at

        def record(outcome: FireOutcome, slot: datetime, **fields: Any) -> None:
            late = now - (due_at if slot == schedule.next_slot else slot)
            history.append(
                {
                    "schedule_id": schedule.id,
                    "slot": slot,
                    "from_slot": fields.get("from_slot"),
                    "slots": fields.get("slots", 1),
                    "outcome": outcome.value,
                    "execution_id": fields.get("execution_id"),
                    "recorded_at": now,
                    "late_ms": max(0, int(late.total_seconds() * 1000)),
                    "node": self.ctx.node,
                    "message": fields.get("message", ""),
                }
            )

        if plan is None:
            record(FireOutcome.NOT_STARTED, schedule.next_slot, message=firing.error)
            moves.append(_move(schedule.id, None, None, None, 0))
            return []
        at_least = "at least " if plan.scan_cut else ""
        for skip in plan.skips:
            record(
                FireOutcome.SKIPPED,
                skip.slot,
                from_slot=skip.from_slot,
                slots=skip.slots,
                message=f"{at_least}{skip.slots} missed slot(s) not run "
                f"(misfire {schedule.misfire.value})",
            )
        pending: list[PendingStart] = []
        fired = 0
        for run, answer in zip(plan.runs, answers, strict=True):
            started, execution_id, message = _outcome(answer)
            if started is not None:
                pending.append(started)
            if execution_id is None:
                record(FireOutcome.NOT_STARTED, run.slot, message=message)
                continue
            fired += 1
            if run.outcome is FireOutcome.CAUGHT_UP and run.slots > 1:
                message = f"one run for {at_least}{run.slots} due slots (misfire once)"
            elif run.outcome is FireOutcome.CAUGHT_UP:
                message = f"missed slot run late (misfire {schedule.misfire.value})"
            record(
                run.outcome,
                run.slot,
                from_slot=run.from_slot,
                slots=run.slots,
                execution_id=execution_id,
                message=message,
            )
        next_slot = plan.next_slot
        last = plan.runs[-1].slot if plan.runs else None
        fire_at = fire_time(next_slot, schedule.jitter_seconds)
        moves.append(_move(schedule.id, next_slot, fire_at, last, fired))
        return pending


@dataclass(frozen=True)
class _Firing:
    """One due schedule: its plan (None when it cannot be computed) and the starts it needs."""

    schedule: Schedule
    plan: misfire.Plan | None
    requests: list[StartRequest]
    error: str


def _request(schedule: Schedule, slot: datetime) -> StartRequest:
    """The start of one slot; its idempotency key makes a slot start once across servers."""
    return StartRequest(
        selectors=[Selector(SelectorKind.ID, schedule.task)],
        origin="schedule",
        caller=Caller(f"schedule:{schedule.name}"[:200], scope="schedule"),
        params=schedule.params,
        idempotency_key=f"{schedule.id}@{slot.isoformat()}",
    )


def _outcome(answer: PendingStart | TaskgateError) -> tuple[PendingStart | None, str | None, str]:
    """(pending, execution id or None, message) of one slot's start."""
    # A refused start (task gone, params no longer valid) writes nothing, and the slot still
    # moves on in this transaction (tests/schedules/test_firing.py).
    if isinstance(answer, TaskgateError):
        return None, None, f"not started: {answer.message}"
    result = answer.result
    if answer.replayed:
        ids = ", ".join(e.id for e in result.executions) or "none"
        return None, None, f"this slot was already started (execution {ids})"
    if result.executions:
        execution = result.executions[0]
        reason = result.results[0].tasks[0].reason if result.results[0].tasks else ""
        return answer, execution.id, reason
    entry = result.results[0]
    if entry.outcome is not SelectorOutcome.MATCHED:
        return answer, None, f"not started: task {entry.outcome.value} ({entry.message})"
    reason = entry.tasks[0].reason if entry.tasks else entry.message
    return answer, None, f"not started: {reason}"


def _move(
    schedule_id: str,
    next_slot: datetime | None,
    next_fire_at: datetime | None,
    last: datetime | None,
    fired: int,
) -> dict[str, Any]:
    return {
        "sid": schedule_id,
        "next_slot": next_slot,
        "next_fire_at": next_fire_at,
        "last": last,
        "fired": fired,
    }
