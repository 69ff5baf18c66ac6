"""Workflows: phases of member tasks, moved on in the transactions that write their ends.

A workflow's execution runs only for a moment: its action (engine/actions/workflow.py)
parks it, and in the transaction that parks it `begin` starts the first phase. From then on
the workflow holds no executor slot and no lease. Each member's end runs `on_end` in the
transaction that writes that end: the member's record in the workflow's `state` is moved on,
and when its phase has ended the next phase's members are started, or the workflow is ended,
all in that same transaction. So a workflow of twenty members on four slots cannot deadlock,
a crash can lose no step (the end and what follows it commit together), and a server's
death ends only the members it ran (they follow the dead-run policy; their ends move the
workflow on as any end does).

Lock order: a member's end is written (its row locked) before its workflow's row is locked
here. The other way round, an abort locks the workflow first and then only takes the
members no other transaction holds (SKIP LOCKED on PostgreSQL): a member being ended or
claimed at that moment is reached through its own end instead.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Connection

from taskgate.core.checks.judging import judge_end
from taskgate.core.checks.news import violation_event
from taskgate.core.clock import utcnow
from taskgate.core.context import CoreContext
from taskgate.core.endings import AfterCommit, Ended
from taskgate.core.executions import ExecutionService
from taskgate.core.starts.request import StartRequest
from taskgate.core.starts.resolve import resolve
from taskgate.core.starts.service import StartService
from taskgate.domain.errors import Forbidden, InvalidInput, NotFound, TaskgateError
from taskgate.domain.events import ExecutionEvent
from taskgate.domain.executions import Caller, Execution, PhaseMember, PhaseView
from taskgate.domain.expressions import MISSING
from taskgate.domain.expressions.paths import walk
from taskgate.domain.selectors import Selector, SelectorKind, SelectorOutcome, parse_selector
from taskgate.domain.status import PENDING, EndReason, Status, default_reason
from taskgate.domain.tasks import Concurrency, Overlap, Task
from taskgate.domain.workflows import (
    MAX_DEPTH,
    PARAMS_ROOT,
    Member,
    PhaseState,
    Unit,
    WorkflowAction,
    WorkflowStarter,
    WorkflowState,
    describe,
    first_failure,
    is_workflow_state,
    phase_names,
    to_start,
)
from taskgate.store import executions as rows
from taskgate.store import tasks as task_rows

ORIGIN = "workflow"
# The task an ad-hoc workflow (`taskgate run-phases`, POST /workflows/run) runs as: not
# stored, but its executions carry its id and definition like any other.
ADHOC_TASK_ID = uuid.uuid5(uuid.NAMESPACE_URL, "taskgate:run-phases")
ADHOC_NAME = "run-phases"
# Parsed definitions of running workflows, by execution (an execution's never changes).
_CACHED = 256
ABORTING = frozenset({Status.ABORT_INITIATED, Status.ABORTING})
# The workflow's log has a line for each member's end in phases of up to this many members;
# in bigger ones, for failures and for the phase's end.
LOGGED_UNITS = 50


class _Refused(Exception):
    """A member that cannot be started; the reason becomes its record's message."""


@dataclass
class _Workflow:
    """One workflow execution, locked, as a hook moves it on within one transaction."""

    row: Any
    task: Task
    spec: WorkflowAction
    state: WorkflowState
    lines: list[str] = field(default_factory=list)
    log_size: int = 0
    ended: bool = False
    # The records of its members (store.executions.member_records), read once when needed.
    records: list[dict[str, Any]] | None = None

    def __post_init__(self) -> None:
        self.log_size = self.row.log_size

    @property
    def id(self) -> str:
        return str(self.row.id)

    @property
    def aborting(self) -> bool:
        return Status(self.row.status) in ABORTING

    def note(self, text: str, at: datetime | None = None) -> None:
        self.lines.append(f"{(at or utcnow()):%H:%M:%S}Z [workflow] {text}\n")


class WorkflowService(WorkflowStarter):
    """Starts workflows' phases and follows their members' ends (end and abort hooks)."""

    def __init__(self, ctx: CoreContext, starts: StartService, executions: ExecutionService):
        self.ctx = ctx
        self.starts = starts
        self.executions = executions
        self._tasks: OrderedDict[str, Task] = OrderedDict()
        ctx.endings.add(self.on_end)
        ctx.endings.add_abort(self.on_abort)

    # -- the parked execution's first step -----------------------------------------------
    def begin(self, conn: Connection, execution_id: str, after: AfterCommit) -> None:
        """Start the first phase, in the transaction that parks the workflow's execution."""
        row = rows.get_row(conn, execution_id, lock=True)
        if row is None or not row.parked:
            return
        task = self._task(row)
        spec = task.action
        assert isinstance(spec, WorkflowAction)
        lineage = [*self._lineage_above(conn, row), task.key]
        flow = _Workflow(row, task, spec, WorkflowState.new(spec, lineage))
        if len(lineage) > MAX_DEPTH:
            reason = f"workflows nested deeper than {MAX_DEPTH}"
            flow.state.failures.append(reason)
            _skip_all(flow.state, reason)
            ended = self._end(conn, flow, Status.FINISHED_FAIL, reason, after)
        elif flow.aborting:
            _skip_all(flow.state, "the workflow was aborted")
            ended = self._end(conn, flow, Status.ABORTED, "aborted before its first phase", after)
        else:
            ended = self._begin_phase(conn, flow, 0, after)
            ended += self._settle(conn, flow, after)
        self._save(conn, flow)
        self.ctx.endings.fire(conn, ended, after)

    def _lineage_above(self, conn: Connection, row: Any) -> list[str]:
        if row.parent_id is None:
            return []
        parent = rows.lean_row(conn, row.parent_id)
        if parent is None or not is_workflow_state(parent.state):
            return []
        return list(parent.state.get("lineage", []))

    # -- hooks ---------------------------------------------------------------------------
    def on_end(self, conn: Connection, end: Ended, after: AfterCommit) -> Sequence[Ended]:
        """A member ended: count it, and move its workflow on."""
        if end.parent_id is None:
            return []
        flow = self._load(conn, end.parent_id)
        if flow is None:
            return []
        member = rows.get_row(conn, end.execution_id)
        if member is None or member.phase is None or member.phase > len(flow.state.phases):
            return []
        phase = flow.state.phases[member.phase - 1]
        if phase.running <= 0:
            return []  # told twice (a replayed end): counted the first time
        phase.ended += 1
        who = describe(member.member or "?", member.task_name)
        caused: list[Ended] = []
        if end.status is not Status.FINISHED_SUCCESS:
            caused += self._failed(conn, flow, phase, who, end.status.value, member.message, after)
        if phase.units <= LOGGED_UNITS or end.status is not Status.FINISHED_SUCCESS:
            flow.note(f"phase {phase.number} {who}: {end.status.value}", end.at)
        elif phase.done:
            flow.note(f"phase {phase.number}: its {phase.units} members ended", end.at)
        caused += self._settle(conn, flow, after)
        self._save(conn, flow)
        return caused

    def on_abort(self, conn: Connection, execution_id: str, after: AfterCommit) -> Sequence[Ended]:
        """The workflow is aborted: abort its running members, start nothing more."""
        flow = self._load(conn, execution_id)
        if flow is None:
            return []
        flow.note("abort requested: stopping the members that run, starting nothing more")
        state = flow.state
        state.stopping = state.stopping or "the workflow was aborted"
        state.skip_rest("the workflow was aborted")
        caused = self._settle(conn, flow, after)
        self._save(conn, flow)
        return caused

    # -- moving on -----------------------------------------------------------------------
    def _settle(self, conn: Connection, flow: _Workflow, after: AfterCommit) -> list[Ended]:
        """Start what may start now, begin the next phase when this one is done, or end the
        workflow; until nothing more follows from what is known."""
        state, spec = flow.state, flow.spec
        caused: list[Ended] = []
        while not flow.ended:
            phase = state.phases[state.current]
            if flow.aborting:
                if any(p.running > 0 for p in state.phases):
                    # Those asked to stop end later; queued ones end now, and are counted
                    # when their ends are fired in turn.
                    caused += self._abort_children(conn, flow, None, "workflow aborted", after)
                    return caused
                _close_phase(phase, aborted=True)
                caused += self._end(conn, flow, Status.ABORTED, "aborted", after)
                break
            if not phase.done:
                if state.stopping:
                    return caused
                ready = to_start(phase, spec.phases[state.current].max_parallel)
                if not ready:
                    return caused
                caused += self._start_units(conn, flow, phase, ready, after)
                continue
            _close_phase(phase)
            if state.stopping:
                state.skip_rest(state.stopping)
                caused += self._end(conn, flow, Status.FINISHED_FAIL, _failed_message(state), after)
                break
            if state.current + 1 < len(spec.phases):
                state.current += 1
                caused += self._begin_phase(conn, flow, state.current, after)
                continue
            if state.failures:
                caused += self._end(conn, flow, Status.FINISHED_FAIL, _failed_message(state), after)
            else:
                caused += self._end(conn, flow, Status.FINISHED_SUCCESS, "all phases ended", after)
        return caused

    def _begin_phase(
        self, conn: Connection, flow: _Workflow, index: int, after: AfterCommit
    ) -> list[Ended]:
        """Name the phase's units (one per task each member's selector names); the ones that
        cannot start are recorded as never started, and fail the phase."""
        phase = flow.state.phases[index]
        spec = flow.spec.phases[index]
        phase.status = "running"
        caused: list[Ended] = []
        for j, member in enumerate(spec.members):
            tasks = task_rows.find(conn, parse_selector(member.task))
            if not tasks:
                unit = Unit(j, member.key, member.task)
                phase.units += 1
                caused += self._never_started(conn, flow, phase, unit, "no task matches", after)
                continue
            for task in tasks:
                unit = Unit(j, member.key, member.task, task.key, task.name)
                phase.units += 1
                if task.key in flow.state.lineage:
                    reason = "a workflow cannot run inside itself"
                    caused += self._never_started(conn, flow, phase, unit, reason, after)
                elif not task.enabled:
                    reason = "task is disabled"
                    caused += self._never_started(conn, flow, phase, unit, reason, after)
                else:
                    phase.waiting.append(unit)
        limit = f", at most {spec.max_parallel} at once" if spec.max_parallel else ""
        names = ", ".join(u.describe() for u in phase.waiting) or "nothing to start"
        if len(names) > 500:
            names = f"{len(phase.waiting)} member(s)"
        flow.note(f"phase {phase.number} begins: {names}{limit}")
        return caused

    def _start_units(
        self,
        conn: Connection,
        flow: _Workflow,
        phase: PhaseState,
        units: list[Unit],
        after: AfterCommit,
    ) -> list[Ended]:
        members = flow.spec.phases[phase.number - 1].members
        requests: list[StartRequest] = []
        asked: list[Unit] = []
        caused: list[Ended] = []
        starting = {id(u) for u in units}
        phase.waiting = [u for u in phase.waiting if id(u) not in starting]
        for unit in units:
            try:
                params = self._params(conn, flow, phase.number - 1, members[unit.member], unit)
            except _Refused as exc:
                caused += self._never_started(conn, flow, phase, unit, str(exc), after)
                continue
            requests.append(_member_request(flow, phase, unit, members[unit.member], params))
            asked.append(unit)
        answers = self.starts.start_many_in(conn, requests)
        started = False
        for unit, answer in zip(asked, answers, strict=True):
            if isinstance(answer, TaskgateError):
                caused += self._never_started(conn, flow, phase, unit, answer.message, after)
                continue
            for event in answer.events:
                after.publish(event)
            refs = answer.result.executions
            reasons = [t.reason for r in answer.result.results for t in r.tasks if t.reason]
            reasons += [r.message for r in answer.result.results if r.message]
            if not refs:
                reason = reasons[0] if reasons else "not started"
                caused += self._never_started(conn, flow, phase, unit, reason, after)
            elif refs[0].status is Status.SKIPPED:
                # Refused at birth by its task's concurrency policy: an execution that
                # ended as it was made, counted as ended here and now.
                phase.ended += 1
                message = reasons[0] if reasons else ""
                skipped = Status.SKIPPED.value
                caused += self._failed(conn, flow, phase, unit.describe(), skipped, message, after)
            else:
                started = True
        if started:
            claimed = self.starts.claim_in(conn, True)
            after.then(lambda: self.starts.hand_over(claimed, started=True))
        return caused

    def _never_started(
        self,
        conn: Connection,
        flow: _Workflow,
        phase: PhaseState,
        unit: Unit,
        reason: str,
        after: AfterCommit,
    ) -> list[Ended]:
        unit.status, unit.message = Status.NEVER_STARTED.value, reason
        phase.never.append(unit)
        flow.note(f"phase {phase.number} {unit.describe()} not started: {reason}")
        return self._failed(
            conn, flow, phase, unit.describe(), Status.NEVER_STARTED.value, reason, after
        )

    def _failed(
        self,
        conn: Connection,
        flow: _Workflow,
        phase: PhaseState,
        who: str,
        status: str,
        message: str,
        after: AfterCommit,
    ) -> list[Ended]:
        """A unit ended otherwise than with success: with on_failure stop, start nothing more
        (and abort the phase's other members, with abort_siblings)."""
        state = flow.state
        phase.failed += 1
        state.record_failure(phase.number, who, status, message)
        if flow.spec.on_failure != "stop" or state.stopping or flow.aborting:
            return []
        state.stopping = f"{who} failed in phase {phase.number}"
        state.skip_waiting(phase, state.stopping)
        if not flow.spec.abort_siblings:
            return []
        reason = f"aborted: {state.stopping}"
        return self._abort_children(conn, flow, phase.number, reason, after)

    def _abort_children(
        self,
        conn: Connection,
        flow: _Workflow,
        phase: int | None,
        reason: str,
        after: AfterCommit,
    ) -> list[Ended]:
        """Abort the workflow's unfinished members (of one phase, or all): a queued one ends
        at once (its end, returned, is counted when it is fired), a running one is asked to
        stop (its end comes later), a member workflow is aborted in turn."""
        now = utcnow()
        caused: list[Ended] = []
        acted: list[str] = []
        for row in rows.unfinished_children(conn, flow.id):
            status = Status(row.status)
            if phase is not None and row.phase != phase:
                continue
            if status not in PENDING and status is not Status.STARTED:
                continue
            acted.append(describe(row.member or "?", row.task_name))
            task = self._task(row)
            if status in PENDING:
                rows.update(
                    conn,
                    row.id,
                    status=Status.ABORTED.value,
                    finished_at=now,
                    message=reason,
                    end_reason=EndReason.ABORTED.value,
                    aborted_by=f"workflow {flow.id}",
                )
                after.publish(_event(task, row, Status.ABORTED, now, reason))
                caused.append(Ended(row.id, row.task_id, Status.ABORTED, now, row.origin, flow.id))
            else:
                rows.update(
                    conn,
                    row.id,
                    status=Status.ABORT_INITIATED.value,
                    message=reason,
                    aborted_by=f"workflow {flow.id}",
                )
                after.publish(_event(task, row, Status.ABORT_INITIATED, now, reason))
                if row.parked:
                    caused += self.on_abort(conn, row.id, after)
                else:
                    after.then(partial(self._stop_run, row.id))
        if acted:
            flow.note(f"{reason}: {', '.join(acted)}", now)
        return caused

    def _stop_run(self, execution_id: str) -> None:
        executor = self.ctx.executor
        if not (executor and executor.abort_local(execution_id)):
            self.ctx.notify_executor()

    # -- parameters ----------------------------------------------------------------------
    def _params(
        self, conn: Connection, flow: _Workflow, index: int, member: Member, unit: Unit
    ) -> dict[str, Any]:
        """The workflow's parameters the member's task declares (all of them, for a member
        that is a workflow: it passes them on by the same rule), the member's own, and the
        ones it takes `from` earlier members' records."""
        task = task_rows.get(conn, unit.task_id or "")
        if task is None:
            raise _Refused("the task is gone")
        given = flow.row.params or {}
        if isinstance(task.action, WorkflowAction):
            params = dict(given)
        else:
            declared = {p.name for p in task.params}
            params = {k: v for k, v in given.items() if k in declared}
        params.update(member.fixed_params())
        references = member.references()
        if references:
            scope = self._scope(conn, flow, index)
            for name, path in references.items():
                value, why = walk(path, scope, scope)
                if value is MISSING:
                    raise _Refused(f"params.{name}: {path.text} finds nothing: {why}")
                params[name] = value
        return params

    def _scope(self, conn: Connection, flow: _Workflow, index: int) -> dict[str, Any]:
        """What `from` paths read: the workflow's params and the records of earlier phases."""
        if flow.records is None:
            flow.records = rows.member_records(conn, flow.id)
        by_phase: dict[int, dict[str, list[dict[str, Any]]]] = {}
        for record in flow.records:
            number = record["phase"]
            if number is not None and number <= index:
                by_phase.setdefault(number, {}).setdefault(record["member"], []).append(record)
        for phase in flow.state.phases[:index]:
            for unit in phase.never:
                record = {
                    "execution_id": None,
                    "task_id": unit.task_id,
                    "status": unit.status,
                    "params": None,
                    "result": None,
                    "exit_code": None,
                    "message": unit.message,
                }
                by_phase.setdefault(phase.number, {}).setdefault(unit.key, []).append(record)
        scope: dict[str, Any] = {PARAMS_ROOT: flow.row.params or {}}
        for name, i in phase_names(flow.spec).items():
            if i < index:
                members = by_phase.get(i + 1, {})
                scope[name] = {k: v[0] if len(v) == 1 else v for k, v in members.items()}
        return scope

    # -- loading, saving, ending -----------------------------------------------------------
    def _task(self, row: Any) -> Task:
        task = self._tasks.get(row.id)
        return task or self._remember(row.id, Task.model_validate(row.task_spec))

    def _remember(self, execution_id: str, task: Task) -> Task:
        self._tasks[execution_id] = task
        if len(self._tasks) > _CACHED:
            self._tasks.popitem(last=False)
        return task

    def _load(self, conn: Connection, execution_id: str) -> _Workflow | None:
        """The parked workflow execution, locked; None for any other execution. Its task's
        definition is read once per process (it never changes for an execution)."""
        row = rows.lean_row(conn, execution_id, lock=True)
        if row is None or not row.parked or not is_workflow_state(row.state):
            return None
        task = self._tasks.get(row.id)
        if task is None:
            task = self._remember(row.id, Task.model_validate(rows.task_spec_of(conn, row.id)))
        assert isinstance(task.action, WorkflowAction)
        return _Workflow(row, task, task.action, WorkflowState.from_json(row.state))

    def _save(self, conn: Connection, flow: _Workflow) -> None:
        values: dict[str, Any] = {"state": flow.state.to_json()}
        if flow.lines:
            offset = flow.log_size
            chunks = []
            for line in flow.lines:
                chunks.append({"execution_id": flow.id, "offset": offset, "data": line})
                offset += len(line)
            rows.append_logs(conn, chunks)
            values["log_size"] = flow.log_size = offset
            flow.lines = []
        rows.update(conn, flow.id, **values)

    def _end(
        self, conn: Connection, flow: _Workflow, status: Status, message: str, after: AfterCommit
    ) -> list[Ended]:
        now = utcnow()
        row = flow.row
        result = self._result(conn, flow)
        # A workflow is judged by its checks like any run: on its whole duration and result.
        judgement = judge_end(
            conn,
            row.task_id,
            flow.task.checks,
            status=status,
            message=message,
            seconds=(now - (row.started_at or row.created_at)).total_seconds(),
            result=result,
        )
        flow.note(f"ended {status.value}: {message}", now)
        flow.ended = True
        checked = status is not judgement.status and judgement.status.is_failure
        status, message = judgement.status, judgement.message
        if not rows.end_parked(
            conn,
            flow.id,
            status=status,
            at=now,
            message=message,
            result=result,
            reason=EndReason.CHECK_FAILED if checked else None,
        ):
            return []
        if judgement.judged and judgement.warnings:
            rows.update(conn, flow.id, warnings=judgement.warnings)
        event = _event(
            flow.task, row, status, now, message, EndReason.CHECK_FAILED if checked else None
        )
        after.publish(event)
        for violation in judgement.violations:
            after.publish(violation_event(event, violation))
        return [Ended(flow.id, row.task_id, status, now, row.origin, row.parent_id)]

    def _result(self, conn: Connection, flow: _Workflow) -> dict[str, Any] | None:
        """The members' results, as `{"phase1": {"load": {...}}}` (lists for members that
        named several tasks); members without a result are left out."""
        collected: dict[int, dict[str, list[Any]]] = {}
        for record in rows.member_records(conn, flow.id):
            if record["result"] is None or record["phase"] is None:
                continue
            members = collected.setdefault(record["phase"], {})
            members.setdefault(record["member"] or "?", []).append(record["result"])
        result = {
            f"phase{number}": {k: v[0] if len(v) == 1 else v for k, v in members.items()}
            for number, members in sorted(collected.items())
        }
        return result or None

    # -- reading -------------------------------------------------------------------------
    async def tree(self, execution_id: str, depth: int = MAX_DEPTH) -> Execution:
        """One execution with its phases and its members, and theirs (a workflow's tree)."""

        def work(conn: Connection) -> Execution:
            execution = rows.get(conn, execution_id, with_attempts=True)
            if execution is None:
                raise NotFound(f"execution {execution_id!r} not found", field="execution")
            _grow(conn, [execution], depth)
            return execution

        return await self.ctx.db.read(work)

    # -- ad-hoc workflows ------------------------------------------------------------------
    async def run_phases(
        self,
        spec: WorkflowAction,
        params: dict[str, Any],
        caller: Caller,
        *,
        origin: str = "api",
        wait: float = 0,
    ) -> tuple[Execution, bool]:
        """Run phases given in the request as one workflow execution (no task is stored).
        Every member must name tasks the caller may start; InvalidInput naming the member
        otherwise. With `wait`, answers once the workflow ended or `wait` seconds passed
        (True)."""
        task = adhoc_task(spec)

        def work(conn: Connection) -> tuple[str, ExecutionEvent, Any]:
            _check_members(conn, spec, caller)
            request = StartRequest(
                selectors=[Selector(SelectorKind.ID, task.key)],
                origin=origin,
                caller=caller,
                params=params,
            )
            ref, event = self.starts.write_one(conn, task, request)
            return ref.id, event, self.starts.claim_in(conn, True)

        execution_id, event, claimed = await self.ctx.db.write(work)
        self.ctx.bus.publish(event)
        self.starts.hand_over(claimed, started=True)
        timed_out = False
        if wait > 0:
            _, timed_out = await self.executions.wait(execution_id, wait)
        return await self.tree(execution_id), timed_out


def adhoc_task(spec: WorkflowAction) -> Task:
    """The task an ad-hoc workflow runs as: named after its phases."""
    phases = " | ".join(", ".join(m.key for m in p.members) for p in spec.phases)
    name = f"{ADHOC_NAME}: {phases}"
    if len(name) > 200:
        name = name[:199] + "…"
    now = utcnow()
    return Task(
        id=ADHOC_TASK_ID,
        name=name,
        action=spec,
        concurrency=Concurrency(max_running=10000, overlap=Overlap.ALLOW),
        created_at=now,
        updated_at=now,
    )


def _check_members(conn: Connection, spec: WorkflowAction, caller: Caller) -> None:
    for p, phase in enumerate(spec.phases):
        for m, member in enumerate(phase.members):
            where = f"phases.{p}.members.{m}"
            resolution, _ = resolve(conn, [parse_selector(member.task)], caller)[0]
            if resolution.outcome is SelectorOutcome.DENIED:
                raise Forbidden(f"{where}: {member.task!r}: {resolution.message}", field=where)
            if resolution.outcome is not SelectorOutcome.MATCHED:
                message = resolution.message or resolution.outcome.value
                raise InvalidInput(f"{where}: {member.task!r}: {message}", field=where)


def _member_request(
    flow: _Workflow, phase: PhaseState, unit: Unit, member: Member, params: dict[str, Any]
) -> StartRequest:
    """The start of one member: its task by id, for the workflow, as its caller.

    The one place a member's start is built: what a member overrides of its task (its
    checks) is handed to the start here."""
    return StartRequest(
        selectors=[Selector(SelectorKind.ID, unit.task_id or "")],
        origin=ORIGIN,
        caller=Caller(str(flow.row.caller), scope=f"workflow:{flow.id}"),
        params=params,
        parent_id=flow.id,
        phase=phase.number,
        member=unit.key,
        checks=member.checks,
    )


def _close_phase(phase: PhaseState, *, aborted: bool = False) -> None:
    """A phase whose members all ended: finished, failed (one of them did) or aborted."""
    if phase.status not in ("running", "pending"):
        return
    if aborted:
        phase.status = "aborted"
    elif phase.failed or phase.never:
        phase.status = "failed"
    else:
        phase.status = "finished"


def _failed_message(state: WorkflowState) -> str:
    first = first_failure(state)
    more = len(state.failures) - 1
    message = f"{first}" + (f" (and {more} more)" if more > 0 else "")
    skipped = [p.number for p in state.phases if p.status == "skipped"]
    if skipped:
        span = f"{skipped[0]}" if len(skipped) == 1 else f"{skipped[0]}-{skipped[-1]}"
        message += f"; phase {span} skipped"
    return message


def _event(
    task: Task,
    row: Any,
    status: Status,
    at: datetime,
    message: str,
    reason: EndReason | None = None,
) -> ExecutionEvent:
    reason = reason or default_reason(status)
    return ExecutionEvent.of(
        task,
        row.id,
        status,
        at,
        attempt=row.attempt_count,
        message=message,
        origin=row.origin,
        started_at=row.started_at,
        created_at=row.created_at,
        parent_id=row.parent_id,
        phase=row.phase,
        end_reason=None if reason is None else reason.value,
    )


def _skip_all(state: WorkflowState, reason: str) -> None:
    for phase in state.phases:
        phase.status, phase.reason = "skipped", reason


def phase_views(
    state: WorkflowState, spec: WorkflowAction | None, children: Sequence[Execution]
) -> list[PhaseView]:
    """The phases as the API shows them: each member's execution (or why it has none), in
    the order the phase names its members."""
    views: list[PhaseView] = []
    for phase in state.phases:
        keys = [m.key for m in spec.phases[phase.number - 1].members] if spec else []
        order = {key: n for n, key in enumerate(keys)}
        members = [
            (
                order.get(c.member or "", len(order)),
                PhaseMember(
                    key=c.member or "?",
                    task_id=c.task_id,
                    task_name=c.task_name,
                    execution_id=c.id,
                    status=c.status.value,
                    message="" if c.status is Status.FINISHED_SUCCESS else c.message,
                ),
            )
            for c in children
            if c.phase == phase.number
        ]
        members += [
            (
                u.member,
                PhaseMember(
                    key=u.key,
                    selector=u.selector,
                    task_id=u.task_id,
                    task_name=u.task_name,
                    status=u.status,
                    message=u.message,
                ),
            )
            for u in [*phase.waiting, *phase.never]
        ]
        members.sort(key=lambda pair: pair[0])
        views.append(
            PhaseView(
                number=phase.number,
                name=phase.name,
                status=phase.status,
                reason=phase.reason,
                members=[m for _, m in members],
            )
        )
    return views


def _spec_of(task_spec: Any) -> WorkflowAction | None:
    try:
        return WorkflowAction.model_validate((task_spec or {}).get("action"))
    except ValueError:
        return None  # written by another version of taskgate: shown in start order


def _grow(conn: Connection, level: list[Execution], depth: int) -> None:
    """Fill in `children` (and `phases` of workflows) down the tree, one query per level."""
    for _ in range(depth):
        if not level:
            return
        states = rows.states_of(conn, [e.id for e in level])
        by_parent: dict[str, list[Execution]] = {e.id: [] for e in level}
        for child in rows.children_of(conn, [e.id for e in level]):
            by_parent[child.parent_id or ""].append(child)
        following: list[Execution] = []
        for execution in level:
            state, task_spec = states.get(execution.id, (None, None))
            children = by_parent.get(execution.id, [])
            if is_workflow_state(state):
                execution.phases = phase_views(
                    WorkflowState.from_json(state), _spec_of(task_spec), children
                )
                # In the order the workflow names them (phase, then member).
                order = {
                    m.execution_id: n
                    for n, m in enumerate(m for p in execution.phases for m in p.members)
                }
                children.sort(key=lambda c: order.get(c.id, len(order)))
            if children or execution.phases is not None:
                execution.children = children
            following += children
        level = following
