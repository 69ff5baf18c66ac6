"""A workflow's end: judged by its checks like any run, with its members' results."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from taskgate.core.checks.judging import judge_end
from taskgate.core.checks.news import violation_event
from taskgate.core.clock import utcnow
from taskgate.core.endings import AfterCommit, Ended
from taskgate.core.workflows.flow import Flow, execution_event
from taskgate.domain.status import EndReason, Status
from taskgate.store import executions as rows


def end_workflow(
    conn: Connection, flow: Flow, status: Status, message: str, after: AfterCommit
) -> list[Ended]:
    """End the parked workflow; its end, for the end hooks (none when it had ended)."""
    now = utcnow()
    row = flow.row
    result = results_of(conn, flow.id)
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
    event = execution_event(
        flow.task, row, status, now, message, EndReason.CHECK_FAILED if checked else None
    )
    after.publish(event)
    for violation in judgement.violations:
        after.publish(violation_event(event, violation))
    return [Ended(flow.id, row.task_id, status, now, row.origin, row.parent_id)]


def results_of(conn: Connection, workflow_id: str) -> dict[str, Any] | None:
    """The members' results, as `{"phase1": {"load": {...}}}` (lists for members that
    named several tasks); members without a result are left out."""
    collected: dict[int, dict[str, list[Any]]] = {}
    for record in rows.member_records(conn, workflow_id):
        if record["result"] is None or record["phase"] is None:
            continue
        members = collected.setdefault(record["phase"], {})
        members.setdefault(record["member"] or "?", []).append(record["result"])
    result = {
        f"phase{number}": {k: v[0] if len(v) == 1 else v for k, v in members.items()}
        for number, members in sorted(collected.items())
    }
    return result or None
