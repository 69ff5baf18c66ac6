"""Schedules: define, pause and resume them, preview their fire times, and fire what is due.

Firing is one transaction per batch of due schedules: each due row is locked (PostgreSQL:
`FOR UPDATE SKIP LOCKED`; SQLite: the write lock `BEGIN IMMEDIATE` takes), its runs are
started through `StartService.start_in` with an idempotency key made of the schedule id and
the slot, its history is written and its next slot stored - all committed together. So a
slot starts one run, however many server processes fire schedules from the same database,
and a crash either loses nothing of a firing or all of it (the slot is then still due).
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar

from sqlalchemy import Connection

from taskgate.core.clock import utcnow
from taskgate.core.context import CoreContext
from taskgate.core.starts.request import PendingStart, StartRequest
from taskgate.core.starts.service import StartService
from taskgate.domain.allowlist import allows
from taskgate.domain.errors import Conflict, Forbidden, InvalidInput, NotFound, TaskgateError
from taskgate.domain.executions import Caller
from taskgate.domain.params import validate_params
from taskgate.domain.selectors import Selector, SelectorKind, SelectorOutcome
from taskgate.schedules import misfire, triggers
from taskgate.schedules.spec import Fire, FireOutcome, HistoryEntry, Kind, Schedule, ScheduleSpec
from taskgate.store import audit
from taskgate.store import schedules as rows
from taskgate.store import tasks as task_rows

log = logging.getLogger(__name__)
T = TypeVar("T")
# Schedules fired per transaction: large enough to amortise a commit, small enough that a
# burst of due schedules does not hold the write lock for long.
BATCH = 50
MAX_PREVIEW = 1000


class SchedulerService:
    def __init__(self, ctx: CoreContext, starts: StartService) -> None:
        self.ctx = ctx
        self.starts = starts
        # Set on every change made in this process, so the loop recomputes its wake-up.
        self.changed = asyncio.Event()

    # --- reading -------------------------------------------------------------------------

    async def get(self, schedule_id: str) -> Schedule:
        found = await self.ctx.db.read(lambda conn: rows.get(conn, schedule_id))
        if found is None:
            raise NotFound(f"schedule {schedule_id!r} not found", field="schedule")
        return found

    async def listing(
        self,
        *,
        task: str | None = None,
        enabled: bool | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[Schedule], int]:
        def work(conn: Connection) -> tuple[list[Schedule], int]:
            task_id = None
            if task is not None:
                found = task_rows.get(conn, task)
                if found is None:
                    return [], 0
                task_id = found.key
            return rows.listing(conn, task_id=task_id, enabled=enabled, limit=limit, offset=offset)

        return await self.ctx.db.read(work)

    async def next_slot_by_task(self, task_ids: list[str]) -> dict[str, datetime]:
        """When each task is next due by one of its enabled schedules."""
        return await self.ctx.db.read(lambda conn: rows.next_slot_by_task(conn, task_ids))

    async def preview(
        self, schedule_id: str, *, count: int = 10, after: datetime | None = None
    ) -> list[Fire]:
        """The next `count` fire times after `after` (default now), paused or not."""
        if not 1 <= count <= MAX_PREVIEW:
            raise InvalidInput(f"count: must be 1-{MAX_PREVIEW}", field="count")
        if after is not None and after.tzinfo is None:
            raise InvalidInput("after: give an offset or Z", field="after")
        schedule = await self.get(schedule_id)
        trigger = triggers.build(schedule, schedule.created_at)
        tz = triggers.zone(schedule.timezone)
        # Up to a thousand solar or rare cron times take a noticeable fraction of a second:
        # off the event loop, so the scheduler and other requests keep their time.
        return await asyncio.to_thread(triggers.preview, trigger, tz, after or utcnow(), count)

    async def history(
        self, schedule_id: str, *, limit: int = 100, before: int | None = None
    ) -> list[HistoryEntry]:
        def work(conn: Connection) -> list[HistoryEntry]:
            if rows.get(conn, schedule_id) is None:
                raise NotFound(f"schedule {schedule_id!r} not found", field="schedule")
            return rows.history(conn, schedule_id, limit=limit, before=before)

        return await self.ctx.db.read(work)

    # --- changing ------------------------------------------------------------------------

    async def create(self, spec: ScheduleSpec, caller: Caller) -> Schedule:
        def work(conn: Connection) -> Schedule:
            if spec.id is not None and rows.get(conn, spec.id) is not None:
                raise Conflict(f"schedule {spec.id!r} already exists", field="id")
            return _save(conn, spec, None, caller, "api")

        return await self._changing(work)

    async def put(
        self, schedule_id: str, spec: ScheduleSpec, caller: Caller
    ) -> tuple[Schedule, bool]:
        """Replace the schedule whole, or create it under this id; True when created."""

        def work(conn: Connection) -> tuple[Schedule, bool]:
            existing = rows.get(conn, schedule_id, lock=True)
            spec_ = spec.model_copy(update={"id": schedule_id})
            saved = _save(conn, spec_, existing, caller, "api")
            return saved, existing is None

        return await self._changing(work)

    async def delete(self, schedule_id: str, caller: Caller) -> Schedule:
        def work(conn: Connection) -> Schedule:
            found = rows.get(conn, schedule_id, lock=True)
            if found is None:
                raise NotFound(f"schedule {schedule_id!r} not found", field="schedule")
            rows.delete(conn, schedule_id)
            _audit(conn, caller, "schedule.delete", found)
            return found

        return await self._changing(work)

    async def pause(self, schedule_id: str, caller: Caller) -> Schedule:
        return await self._set_enabled([schedule_id], False, caller)

    async def resume(self, schedule_id: str, caller: Caller) -> Schedule:
        return await self._set_enabled([schedule_id], True, caller)

    async def set_all_enabled(
        self, enabled: bool, caller: Caller, *, kind: Kind | None = None
    ) -> list[Schedule]:
        """Pause or resume every schedule, or every one of a kind (Butler's stopall / startall
        reach the cron schedules, the ones that door shows)."""

        def work(conn: Connection) -> list[Schedule]:
            found, _ = rows.listing(conn, enabled=not enabled, limit=10**9)
            for schedule in found:
                if kind is None or schedule.kind is kind:
                    _enable(conn, schedule, enabled, caller)
            everything, _ = rows.listing(conn, limit=10**9)
            return everything

        return await self._changing(work)

    async def _set_enabled(self, ids: list[str], enabled: bool, caller: Caller) -> Schedule:
        def work(conn: Connection) -> Schedule:
            result: Schedule | None = None
            for schedule_id in ids:
                found = rows.get(conn, schedule_id, lock=True)
                if found is None:
                    raise NotFound(f"schedule {schedule_id!r} not found", field="schedule")
                result = _enable(conn, found, enabled, caller)
            assert result is not None
            return result

        return await self._changing(work)

    async def sync_from_config(
        self, declared: Iterable[tuple[str, ScheduleSpec]], caller: Caller
    ) -> None:
        """Make the database hold the config's schedules (task id, spec with a stable id).

        An unchanged schedule keeps its next slot, so slots missed while the server was down
        meet their misfire policy; config schedules no longer declared are removed.
        """

        def work(conn: Connection) -> None:
            keep: set[str] = set()
            for task_id, spec in declared:
                assert spec.id is not None
                keep.add(spec.id)
                existing = rows.get(conn, spec.id, lock=True)
                spec = spec.model_copy(update={"task": task_id})
                if existing is not None and existing.source == "config" and _same(existing, spec):
                    continue
                _save(conn, spec, existing, caller, "config")
            stale, _ = rows.listing(conn, source="config", limit=10**9)
            for schedule in stale:
                if schedule.id not in keep:
                    rows.delete(conn, schedule.id)
                    _audit(conn, caller, "schedule.delete", schedule)

        await self._changing(work)

    async def _changing(self, work: Callable[[Connection], T]) -> T:
        result = await self.ctx.db.write(work)
        self.changed.set()
        return result

    async def purge_history(self, cutoff: datetime) -> int:
        return await self.ctx.db.write(lambda conn: rows.purge_history_before(conn, cutoff))

    # --- firing --------------------------------------------------------------------------

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
        fire_at = _fire_time(next_slot, schedule.jitter_seconds)
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


def _fire_time(slot: datetime | None, jitter_seconds: float) -> datetime | None:
    if slot is None or jitter_seconds <= 0:
        return slot
    # Jitter spreads runs of many schedules that share a slot; it is not a secret.
    return slot + timedelta(seconds=random.uniform(0, jitter_seconds))


def _first_slot(trigger: triggers.Bounded, spec: ScheduleSpec, now: datetime) -> datetime | None:
    if spec.kind is Kind.CLOCKED:
        # A one-off instant given "now" (or a moment ago) still fires, as on time.
        return trigger.next_after(now - timedelta(seconds=spec.misfire_grace_seconds))
    return trigger.next_after(now)


def _save(
    conn: Connection,
    spec: ScheduleSpec,
    existing: Schedule | None,
    caller: Caller,
    source: Literal["api", "config"],
) -> Schedule:
    task = task_rows.get(conn, spec.task)
    if task is None:
        raise InvalidInput(f"task: no task {spec.task!r} (give its id or label)", field="task")
    if not allows(caller.allowed_tasks, task):
        raise Forbidden(f"task {spec.task!r} is not on this key's allow-list", field="task")
    validate_params(task.params, spec.params)
    now = utcnow()
    created_at = existing.created_at if existing else now
    trigger = triggers.build(spec, created_at)
    schedule_id = spec.id or str(uuid.uuid4())
    unchanged = existing is not None and _same(existing, spec.model_copy(update={"task": task.key}))
    if unchanged and existing is not None:
        next_slot, next_fire_at = existing.next_slot, existing.next_fire_at
    elif spec.enabled:
        next_slot = _first_slot(trigger, spec, now)
        next_fire_at = _fire_time(next_slot, spec.jitter_seconds)
    else:
        next_slot = next_fire_at = None
    schedule = Schedule.model_validate(
        {
            **spec.model_dump(exclude={"id", "task", "name"}),
            "id": schedule_id,
            "name": spec.name or f"{task.name} ({spec.kind.value})",
            "task": task.key,
            "task_name": task.name,
            "source": source,
            "next_slot": next_slot,
            "next_fire_at": next_fire_at,
            "last_slot": existing.last_slot if existing else None,
            "fire_count": existing.fire_count if existing else 0,
            "created_at": created_at,
            "updated_at": now,
        }
    )
    if existing is None:
        rows.insert(conn, schedule)
    else:
        rows.update(conn, schedule)
    _audit(conn, caller, "schedule.create" if existing is None else "schedule.update", schedule)
    saved = rows.get(conn, schedule_id)
    assert saved is not None
    return saved


def _enable(conn: Connection, schedule: Schedule, enabled: bool, caller: Caller) -> Schedule:
    """Pausing forgets the next slot; resuming counts from now, so a pause is not a misfire."""
    if schedule.enabled == enabled:
        return schedule
    now = utcnow()
    next_slot: datetime | None = None
    if enabled:
        next_slot = triggers.build(schedule, schedule.created_at).next_after(now)
    changed = schedule.model_copy(
        update={
            "enabled": enabled,
            "next_slot": next_slot,
            "next_fire_at": _fire_time(next_slot, schedule.jitter_seconds),
            "updated_at": now,
        }
    )
    rows.update(conn, changed)
    _audit(conn, caller, "schedule.resume" if enabled else "schedule.pause", changed)
    saved = rows.get(conn, schedule.id)
    assert saved is not None
    return saved


def _same(schedule: Schedule, spec: ScheduleSpec) -> bool:
    fields = set(ScheduleSpec.model_fields) - {"id"}
    stored = schedule.model_dump(include=fields)
    given = spec.model_dump(include=fields)
    if not given["name"]:
        given["name"] = stored["name"]
    return bool(stored == given)


def _audit(conn: Connection, caller: Caller, action: str, schedule: Schedule) -> None:
    audit.record(
        conn,
        at=utcnow(),
        actor=caller.name,
        action=action,
        target=schedule.id,
        details={"name": schedule.name, "task": schedule.task},
    )
