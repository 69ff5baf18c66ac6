"""The read side: an execution with its members, and theirs, and its phases as the API shows
them. Reads only; nothing here moves a workflow on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from taskgate.domain.errors import NotFound
from taskgate.domain.executions import Execution, PhaseMember, PhaseView
from taskgate.domain.status import Status
from taskgate.domain.workflow_state import WorkflowState, is_workflow_state
from taskgate.domain.workflows import WorkflowAction
from taskgate.store import executions as rows


def read_tree(conn: Connection, execution_id: str, depth: int) -> Execution:
    """One execution with its phases and its members, `depth` levels down."""
    execution = rows.get(conn, execution_id, with_attempts=True)
    if execution is None:
        raise NotFound.named("execution", execution_id)
    _grow(conn, [execution], depth)
    return execution


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
