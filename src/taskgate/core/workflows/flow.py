"""One workflow execution as a hook holds it: locked, loaded, moved on and saved.

A hook loads the parked workflow's row (locked) and its state, changes the state and notes
log lines, and saves both before its transaction commits. The small rules about a phase's
and a workflow's state that every step of moving on shares are here too.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from taskgate.core.clock import utcnow
from taskgate.core.rowevents import event_of_row
from taskgate.domain.events import ExecutionEvent
from taskgate.domain.status import EndReason, Status, default_reason
from taskgate.domain.tasks import Task
from taskgate.domain.workflow_state import (
    PhaseState,
    WorkflowState,
    first_failure,
    is_workflow_state,
)
from taskgate.domain.workflows import WorkflowAction
from taskgate.store import executions as rows

ABORTING = frozenset({Status.ABORT_INITIATED, Status.ABORTING})
# Parsed definitions of running workflows, by execution (an execution's never changes).
_CACHED = 256


@dataclass
class Flow:
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


class Definitions:
    """The task definitions of the executions the hooks touch, read once per process (an
    execution's definition never changes), the least recently used dropped first."""

    def __init__(self) -> None:
        self._tasks: OrderedDict[str, Task] = OrderedDict()

    def of_row(self, row: Any) -> Task:
        """The task of an execution row that carries its `task_spec`."""
        task = self._tasks.get(row.id)
        return task or self._remember(row.id, Task.model_validate(row.task_spec))

    def _remember(self, execution_id: str, task: Task) -> Task:
        self._tasks[execution_id] = task
        if len(self._tasks) > _CACHED:
            self._tasks.popitem(last=False)
        return task

    def load(self, conn: Connection, execution_id: str) -> Flow | None:
        """The parked workflow execution, locked; None for any other execution."""
        row = rows.lean_row(conn, execution_id, lock=True)
        if row is None or not row.parked or not is_workflow_state(row.state):
            return None
        task = self._tasks.get(row.id)
        if task is None:
            task = self._remember(row.id, Task.model_validate(rows.task_spec_of(conn, row.id)))
        assert isinstance(task.action, WorkflowAction)
        return Flow(row, task, task.action, WorkflowState.from_json(row.state))


def save(conn: Connection, flow: Flow) -> None:
    """Write the flow's state, and append the log lines it noted."""
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


def execution_event(
    task: Task,
    row: Any,
    status: Status,
    at: datetime,
    message: str,
    reason: EndReason | None = None,
) -> ExecutionEvent:
    """The event of a status change a hook writes (of the workflow, or of a member)."""
    reason = reason or default_reason(status)
    return event_of_row(
        row,
        status,
        at,
        task=task,
        message=message,
        started_at=row.started_at,
        end_reason=None if reason is None else reason.value,
    )


def close_phase(phase: PhaseState, *, aborted: bool = False) -> None:
    """A phase whose members all ended: finished, failed (one of them did) or aborted."""
    if phase.status not in ("running", "pending"):
        return
    if aborted:
        phase.status = "aborted"
    elif phase.failed or phase.never:
        phase.status = "failed"
    else:
        phase.status = "finished"


def skip_all(state: WorkflowState, reason: str) -> None:
    for phase in state.phases:
        phase.status, phase.reason = "skipped", reason


def failed_message(state: WorkflowState) -> str:
    first = first_failure(state)
    more = len(state.failures) - 1
    message = f"{first}" + (f" (and {more} more)" if more > 0 else "")
    skipped = [p.number for p in state.phases if p.status == "skipped"]
    if skipped:
        span = f"{skipped[0]}" if len(skipped) == 1 else f"{skipped[0]}-{skipped[-1]}"
        message += f"; phase {span} skipped"
    return message
