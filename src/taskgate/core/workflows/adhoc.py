"""Ad-hoc workflows (`taskgate run-phases`, POST /workflows/run): phases given in the request,
run as one workflow execution of a task that is not stored."""

from __future__ import annotations

import uuid

from sqlalchemy import Connection

from taskgate.core.clock import utcnow
from taskgate.core.starts.resolve import resolve
from taskgate.domain.errors import Forbidden, InvalidInput
from taskgate.domain.executions import Caller
from taskgate.domain.selectors import SelectorOutcome, parse_selector
from taskgate.domain.tasks import Concurrency, Overlap, Task
from taskgate.domain.workflows import WorkflowAction

# The task an ad-hoc workflow runs as: not stored, but its executions carry its id and
# definition like any other.
ADHOC_TASK_ID = uuid.uuid5(uuid.NAMESPACE_URL, "taskgate:run-phases")
ADHOC_NAME = "run-phases"


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


def check_members(conn: Connection, spec: WorkflowAction, caller: Caller) -> None:
    """Every member names tasks the caller may start: Forbidden or InvalidInput naming the
    member otherwise."""
    for p, phase in enumerate(spec.phases):
        for m, member in enumerate(phase.members):
            where = f"phases.{p}.members.{m}"
            resolution, _ = resolve(conn, [parse_selector(member.task)], caller)[0]
            if resolution.outcome is SelectorOutcome.DENIED:
                raise Forbidden(f"{where}: {member.task!r}: {resolution.message}", field=where)
            if resolution.outcome is not SelectorOutcome.MATCHED:
                message = resolution.message or resolution.outcome.value
                raise InvalidInput(f"{where}: {member.task!r}: {message}", field=where)
