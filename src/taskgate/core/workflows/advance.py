"""The advance side of workflows: phases of member tasks, moved on in the transactions that
write their ends.

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
members no other transaction holds (SKIP LOCKED on PostgreSQL). Those held at that moment
(being ended, being claimed, or only looked at by a claim whose task is full) are aborted
after the commit, each in a transaction that locks the member first, as its end would.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Connection

from taskgate.core.clock import utcnow
from taskgate.core.context import CoreContext
from taskgate.core.endings import AfterCommit, Ended
from taskgate.core.starts.request import StartRequest
from taskgate.core.starts.service import StartService
from taskgate.core.workflows.ending import end_workflow
from taskgate.core.workflows.flow import (
    Definitions,
    Flow,
    close_phase,
    execution_event,
    failed_message,
    save,
    skip_all,
)
from taskgate.core.workflows.members import Refused, member_params, member_request
from taskgate.domain.errors import TaskgateError
from taskgate.domain.selectors import parse_selector
from taskgate.domain.status import PENDING, EndReason, Status
from taskgate.domain.workflow_state import (
    PhaseState,
    Unit,
    WorkflowState,
    describe,
    is_workflow_state,
    to_start,
)
from taskgate.domain.workflows import MAX_DEPTH, WorkflowAction
from taskgate.store import executions as rows
from taskgate.store import tasks as task_rows

log = logging.getLogger(__name__)

# The workflow's log has a line for each member's end in phases of up to this many members;
# in bigger ones, for failures and for the phase's end.
LOGGED_UNITS = 50


class Advance:
    """Starts a workflow's phases and follows its members' ends (its end and abort hooks)."""

    def __init__(self, ctx: CoreContext, starts: StartService):
        self.ctx = ctx
        self.starts = starts
        self.definitions = Definitions()
        self._background: set[asyncio.Task[None]] = set()
        ctx.endings.add(self.on_end)
        ctx.endings.add_abort(self.on_abort)

    # -- the parked execution's first step -----------------------------------------------
    def begin(self, conn: Connection, execution_id: str, after: AfterCommit) -> None:
        """Start the first phase, in the transaction that parks the workflow's execution."""
        row = rows.get_row(conn, execution_id, lock=True)
        if row is None or not row.parked:
            return
        task = self.definitions.of_row(row)
        spec = task.action
        assert isinstance(spec, WorkflowAction)
        lineage = [*self._lineage_above(conn, row), task.key]
        flow = Flow(row, task, spec, WorkflowState.new(spec, lineage))
        if len(lineage) > MAX_DEPTH:
            reason = f"workflows nested deeper than {MAX_DEPTH}"
            flow.state.failures.append(reason)
            skip_all(flow.state, reason)
            ended = end_workflow(conn, flow, Status.FINISHED_FAIL, reason, after)
        elif flow.aborting:
            skip_all(flow.state, "the workflow was aborted")
            ended = end_workflow(
                conn, flow, Status.ABORTED, "aborted before its first phase", after
            )
        else:
            ended = self._begin_phase(conn, flow, 0, after)
            ended += self._settle(conn, flow, after)
        save(conn, flow)
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
        flow = self.definitions.load(conn, end.parent_id)
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
        save(conn, flow)
        return caused

    def on_abort(self, conn: Connection, execution_id: str, after: AfterCommit) -> Sequence[Ended]:
        """The workflow is aborted: abort its running members, start nothing more."""
        flow = self.definitions.load(conn, execution_id)
        if flow is None:
            return []
        flow.note("abort requested: stopping the members that run, starting nothing more")
        state = flow.state
        state.stopping = state.stopping or "the workflow was aborted"
        state.skip_rest("the workflow was aborted")
        caused = self._settle(conn, flow, after)
        save(conn, flow)
        return caused

    # -- moving on -----------------------------------------------------------------------
    def _settle(self, conn: Connection, flow: Flow, after: AfterCommit) -> list[Ended]:
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
                close_phase(phase, aborted=True)
                caused += end_workflow(conn, flow, Status.ABORTED, "aborted", after)
                break
            if not phase.done:
                if state.stopping:
                    return caused
                ready = to_start(phase, spec.phases[state.current].max_parallel)
                if not ready:
                    return caused
                caused += self._start_units(conn, flow, phase, ready, after)
                continue
            close_phase(phase)
            if state.stopping:
                state.skip_rest(state.stopping)
                caused += end_workflow(
                    conn, flow, Status.FINISHED_FAIL, failed_message(state), after
                )
                break
            if state.current + 1 < len(spec.phases):
                state.current += 1
                caused += self._begin_phase(conn, flow, state.current, after)
                continue
            if state.failures:
                caused += end_workflow(
                    conn, flow, Status.FINISHED_FAIL, failed_message(state), after
                )
            else:
                caused += end_workflow(
                    conn, flow, Status.FINISHED_SUCCESS, "all phases ended", after
                )
        return caused

    def _begin_phase(
        self, conn: Connection, flow: Flow, index: int, after: AfterCommit
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
        flow: Flow,
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
                params = member_params(conn, flow, phase.number - 1, members[unit.member], unit)
            except Refused as exc:
                caused += self._never_started(conn, flow, phase, unit, str(exc), after)
                continue
            requests.append(member_request(flow, phase, unit, members[unit.member], params))
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
        flow: Flow,
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
        flow: Flow,
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
        flow: Flow,
        phase: int | None,
        reason: str,
        after: AfterCommit,
    ) -> list[Ended]:
        """Abort the workflow's unfinished members (of one phase, or all): a queued one ends
        at once (its end, returned, is counted when it is fired), a running one is asked to
        stop (its end comes later), a member workflow is aborted in turn. A member another
        transaction holds right now is aborted after the commit, in a transaction of its own."""
        now = utcnow()
        caused: list[Ended] = []
        acted: list[str] = []
        reached: set[str] = set()
        for row in rows.unfinished_children(conn, flow.id):
            reached.add(row.id)
            if phase is not None and row.phase != phase:
                continue
            if not _abortable(row):
                continue
            acted.append(describe(row.member or "?", row.task_name))
            caused += self._abort_member(conn, flow.id, row, reason, now, after)
        if acted:
            flow.note(f"{reason}: {', '.join(acted)}", now)
        if conn.dialect.name == "postgresql":
            # Left out as locked: one being ended tells the workflow itself, but one a claim
            # only looked at (its task full) stays queued, and one being claimed will run.
            held = [
                row.id
                for row in rows.unfinished_children(conn, flow.id, lock=False)
                if row.id not in reached and (phase is None or row.phase == phase)
            ]
            if held:
                after.then(partial(self._abort_later, flow.id, held, reason))
        return caused

    def _abort_member(
        self,
        conn: Connection,
        flow_id: str,
        row: Any,
        reason: str,
        now: datetime,
        after: AfterCommit,
    ) -> list[Ended]:
        """Abort one member (locked, queued or started): its end if it ended now."""
        task = self.definitions.of_row(row)
        if Status(row.status) in PENDING:
            rows.update(
                conn,
                row.id,
                status=Status.ABORTED.value,
                finished_at=now,
                message=reason,
                end_reason=EndReason.ABORTED.value,
                aborted_by=f"workflow {flow_id}",
            )
            after.publish(execution_event(task, row, Status.ABORTED, now, reason))
            return [Ended(row.id, row.task_id, Status.ABORTED, now, row.origin, flow_id)]
        rows.update(
            conn,
            row.id,
            status=Status.ABORT_INITIATED.value,
            message=reason,
            aborted_by=f"workflow {flow_id}",
        )
        after.publish(execution_event(task, row, Status.ABORT_INITIATED, now, reason))
        if row.parked:
            return list(self.on_abort(conn, row.id, after))
        after.then(partial(self._stop_run, row.id))
        return []

    def _abort_later(self, flow_id: str, execution_ids: list[str], reason: str) -> None:
        task = asyncio.get_running_loop().create_task(
            self._abort_held(flow_id, execution_ids, reason)
        )
        self._background.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._background.discard)

    async def _abort_held(self, flow_id: str, execution_ids: list[str], reason: str) -> None:
        """Abort the members the workflow's abort found held, each once its holder is done."""
        for execution_id in execution_ids:
            after = AfterCommit()
            work = partial(self._abort_held_member, flow_id, execution_id, reason, after)
            try:
                await self.ctx.db.write(work)
            except Exception:
                log.exception("workflow %s: member %s not aborted", flow_id, execution_id)
                continue
            after.run(self.ctx.bus)

    def _abort_held_member(
        self, flow_id: str, execution_id: str, reason: str, after: AfterCommit, conn: Connection
    ) -> None:
        # The member first (waiting for its holder), then its workflow in its end's hooks:
        # the order of a member's end, so no deadlock.
        row = rows.get_row(conn, execution_id, lock=True)
        if row is None or not _abortable(row):
            return  # ended meanwhile: that end told the workflow
        ended = self._abort_member(conn, flow_id, row, reason, utcnow(), after)
        self.ctx.endings.fire(conn, ended, after)

    def _stop_run(self, execution_id: str) -> None:
        executor = self.ctx.executor
        if not (executor and executor.abort_local(execution_id)):
            self.ctx.notify_executor()


def _abortable(row: Any) -> bool:
    status = Status(row.status)
    return status in PENDING or status is Status.STARTED
