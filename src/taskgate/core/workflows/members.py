"""How a member is started: its parameters and its start request."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from taskgate.core.starts.request import StartRequest
from taskgate.core.workflows.flow import Flow
from taskgate.domain.executions import Caller
from taskgate.domain.expressions import MISSING
from taskgate.domain.expressions.paths import walk
from taskgate.domain.selectors import Selector, SelectorKind
from taskgate.domain.workflow_state import PhaseState, Unit
from taskgate.domain.workflows import PARAMS_ROOT, Member, WorkflowAction, phase_names
from taskgate.store import executions as rows
from taskgate.store import tasks as task_rows

ORIGIN = "workflow"


class Refused(Exception):
    """A member that cannot be started; the reason becomes its record's message."""


def member_params(
    conn: Connection, flow: Flow, index: int, member: Member, unit: Unit
) -> dict[str, Any]:
    """The workflow's parameters the member's task declares (all of them, for a member
    that is a workflow: it passes them on by the same rule), the member's own, and the
    ones it takes `from` earlier members' records."""
    task = task_rows.get(conn, unit.task_id or "")
    if task is None:
        raise Refused("the task is gone")
    given = flow.row.params or {}
    if isinstance(task.action, WorkflowAction):
        params = dict(given)
    else:
        declared = {p.name for p in task.params}
        params = {k: v for k, v in given.items() if k in declared}
    params.update(member.fixed_params())
    references = member.references()
    if references:
        scope = _scope(conn, flow, index)
        for name, path in references.items():
            value, why = walk(path, scope, scope)
            if value is MISSING:
                raise Refused(f"params.{name}: {path.text} finds nothing: {why}")
            params[name] = value
    return params


def _scope(conn: Connection, flow: Flow, index: int) -> dict[str, Any]:
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


def member_request(
    flow: Flow, phase: PhaseState, unit: Unit, member: Member, params: dict[str, Any]
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
