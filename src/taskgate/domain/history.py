"""An execution's history: what happened to it, in order, rebuilt from what the store keeps
of it (its row, its attempts, the audit record of an abort, the chain firings its end made,
its webhook deliveries). Nothing is written per event to build it: the run's hot path stays
as it is, and the history says what those records say.

The entries read like the live events (domain/events.py: `kind`, `status`, `attempt`, `at`,
`message`, `end_reason`, `exit_code`, `check`), so a page can show the history and then the
events that follow it in one list. Two kinds exist only here: `chain_fired` (a chain rule this
run's end fired) and `webhook` (a delivery of one of its events).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from taskgate.domain.events import CHECK_VIOLATED, MAX_DURATION_PASSED
from taskgate.domain.executions import Attempt, Execution
from taskgate.domain.status import EndReason, Status
from taskgate.domain.webhooks import Delivery

CHAIN_FIRED = "chain_fired"
WEBHOOK = "webhook"
HistoryKind = Literal["status", "check_violated", "max_duration_passed", "chain_fired", "webhook"]


class HistoryEvent(BaseModel):
    """One thing that happened to an execution (or, in a workflow's history, to a member)."""

    at: datetime
    kind: HistoryKind = "status"
    execution_id: str
    task_name: str
    # The member's name, in a workflow's history of its members.
    member: str | None = None
    # `status`: the status the execution moved to. Other kinds: the status the news is
    # about (a delivered event's, the end that fired a chain rule, the run's at the check).
    status: Status
    attempt: int = 0
    message: str = ""
    # Who: the caller that started it (its first event), who asked for its abort.
    by: str | None = None
    origin: str | None = None
    node: str | None = None
    exit_code: int | None = None
    end_reason: str | None = None
    # A check's news: {check, on_violation, reason, ...}.
    check: dict[str, Any] | None = None
    # A chained start's rule, or the rule its end fired.
    chain_id: str | None = None
    # The runs an event names: the ends that triggered a chained start, the workflow a
    # member runs for, the runs a fired rule started.
    execution_ids: list[str] = Field(default_factory=list)
    phase: int | None = None
    # A webhook delivery: {webhook_id, delivery_id, state, attempts, last_status_code,
    # last_error}.
    delivery: dict[str, Any] | None = None


@dataclass(frozen=True)
class AbortAsked:
    """The audit record of an abort asked for while the run went on."""

    at: datetime
    by: str
    from_status: str


@dataclass(frozen=True)
class Firing:
    """A chain rule that this run's end (among others, for an `all` rule) fired."""

    chain_id: str
    at: datetime
    outcome: str
    execution_ids: list[str]
    message: str


@dataclass(frozen=True)
class Records:
    """What the store keeps of one execution, as its history is told from."""

    execution: Execution
    # The task's retry count (`retries.count`) when the run was made; None: unknown.
    retries: int | None = None
    abort: AbortAsked | None = None
    firings: tuple[Firing, ...] = ()
    deliveries: tuple[Delivery, ...] = ()


def history(records: Records, members: list[Records] | None = None) -> list[HistoryEvent]:
    """The execution's events, oldest first; a workflow's with its members' status events."""
    events = _own(records)
    for member in members or []:
        events += _statuses(member, in_workflow=True)
    # Stable: events of one instant keep the order they were told in (a start before its
    # end, an end before the checks and rules it set off).
    events.sort(key=lambda event: event.at)
    return events


def _own(records: Records) -> list[HistoryEvent]:
    execution = records.execution
    events = _statuses(records, in_workflow=False)
    events += _checks(execution)
    events += [_fired(execution, firing) for firing in records.firings]
    events += [_delivered(execution, delivery) for delivery in records.deliveries]
    return events


def _event(execution: Execution, in_workflow: bool, **fields: Any) -> HistoryEvent:
    return HistoryEvent(
        execution_id=execution.id,
        task_name=execution.task_name,
        member=execution.member if in_workflow else None,
        **fields,
    )


def _statuses(records: Records, *, in_workflow: bool) -> list[HistoryEvent]:
    """Made, each attempt's start and end (a retry after it), an abort asked, the end."""
    execution = records.execution
    attempts = sorted(execution.attempts or [], key=lambda a: a.number)
    never_ran = execution.status is Status.SKIPPED and not attempts
    events = [_made(execution, in_workflow, never_ran)]
    if never_ran:
        return events
    if records.abort is not None and records.abort.from_status == Status.STARTED.value:
        events.append(
            _event(
                execution,
                in_workflow,
                at=records.abort.at,
                status=Status.ABORT_INITIATED,
                attempt=execution.attempt_count,
                by=records.abort.by,
                message=f"abort requested by {records.abort.by}",
            )
        )
    ended_by_attempt = False
    for attempt in attempts:
        events.append(
            _event(
                execution,
                in_workflow,
                at=attempt.started_at,
                status=Status.STARTED,
                attempt=attempt.number,
                node=attempt.node,
            )
        )
        if attempt.finished_at is None:
            continue
        if attempt is attempts[-1] and execution.status.is_terminal:
            ended_by_attempt = True
            events.append(_end(execution, in_workflow, attempt))
        else:
            # Another attempt followed it, or will: the execution has not ended.
            events.append(_retry(execution, in_workflow, attempt, records.retries))
    if execution.status.is_terminal and not ended_by_attempt:
        events.append(_end(execution, in_workflow, None))
    return events


def _made(execution: Execution, in_workflow: bool, never_ran: bool) -> HistoryEvent:
    """Its first event: queued (or skipped at once), by whom, for which rule or workflow."""
    links: list[str] = []
    if execution.triggered_by:
        links = list(execution.triggered_by)
    elif execution.parent_id is not None and not in_workflow:
        links = [execution.parent_id]
    return _event(
        execution,
        in_workflow,
        at=execution.created_at,
        status=Status.SKIPPED if never_ran else Status.QUEUED,
        by=execution.caller,
        origin=execution.origin,
        message=execution.message if never_ran else "",
        end_reason=execution.end_reason if never_ran else None,
        chain_id=execution.chain_id,
        execution_ids=links,
        phase=execution.phase,
    )


def _end(execution: Execution, in_workflow: bool, attempt: Attempt | None) -> HistoryEvent:
    aborted = execution.end_reason == EndReason.ABORTED.value
    return _event(
        execution,
        in_workflow,
        at=execution.finished_at or (attempt.finished_at if attempt else execution.created_at),
        status=execution.status,
        attempt=execution.attempt_count,
        exit_code=execution.exit_code,
        end_reason=execution.end_reason,
        by=execution.aborted_by if aborted else None,
        message=execution.message,
    )


def _retry(
    execution: Execution, in_workflow: bool, attempt: Attempt, retries: int | None
) -> HistoryEvent:
    """A failed attempt that another followed (or will): the live stream's `retry` event."""
    of = f" of {retries}" if retries else ""
    said = "; ".join(part for part in (attempt.message, f"retry {attempt.number}{of}") if part)
    return _event(
        execution,
        in_workflow,
        at=attempt.finished_at,
        status=Status.RETRY,
        attempt=attempt.number,
        exit_code=attempt.exit_code,
        end_reason=attempt.end_reason,
        message=said,
    )


def _checks(execution: Execution) -> list[HistoryEvent]:
    """Checks broken: a `fail` check that failed the run, each warning it carries."""
    events: list[HistoryEvent] = []
    ended = execution.finished_at
    if execution.end_reason == EndReason.CHECK_FAILED.value and ended is not None:
        events.append(
            _event(
                execution,
                False,
                at=ended,
                kind=CHECK_VIOLATED,
                status=execution.status,
                attempt=execution.attempt_count,
                check={"on_violation": "fail"},
                message=execution.message,
            )
        )
    for warning in execution.warnings:
        while_running = bool(warning.get("while_running"))
        at = _instant(warning.get("at")) or ended or execution.started_at or execution.created_at
        events.append(
            _event(
                execution,
                False,
                at=at,
                kind=MAX_DURATION_PASSED if while_running else CHECK_VIOLATED,
                status=Status.STARTED if while_running else execution.status,
                attempt=int(warning.get("attempt") or execution.attempt_count),
                check=warning,
                message=str(warning.get("reason", "")),
            )
        )
    return events


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _fired(execution: Execution, firing: Firing) -> HistoryEvent:
    return _event(
        execution,
        False,
        at=firing.at,
        kind=CHAIN_FIRED,
        status=execution.status,
        attempt=execution.attempt_count,
        chain_id=firing.chain_id,
        execution_ids=firing.execution_ids,
        message=firing.message or firing.outcome.replace("_", " "),
    )


def _delivered(execution: Execution, delivery: Delivery) -> HistoryEvent:
    return _event(
        execution,
        False,
        at=delivery.created_at,
        kind=WEBHOOK,
        status=delivery.event_status,
        delivery={
            "webhook_id": delivery.webhook_id,
            "delivery_id": delivery.id,
            "state": delivery.state.value,
            "attempts": delivery.attempts,
            "last_status_code": delivery.last_status_code,
            "last_error": delivery.last_error,
        },
    )
