"""The event every status change publishes, and the filter its subscribers choose by."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

from taskgate.domain.chains import ChainLink
from taskgate.domain.status import Status
from taskgate.domain.tasks import Task

# What an event tells: a status change (the default), or a check's news about a run whose
# status has not changed (domain/checks.py): a check broken when it ended, its max_duration
# passed while it runs, a deadline by which its task had not succeeded.
STATUS = "status"
CHECK_VIOLATED = "check_violated"
MAX_DURATION_PASSED = "max_duration_passed"
DEADLINE_MISSED = "deadline_missed"
EventKind = Literal["status", "check_violated", "max_duration_passed", "deadline_missed"]
KINDS: tuple[str, ...] = get_args(EventKind)


@dataclass(frozen=True, slots=True)
class ExecutionEvent:
    """One status change of one execution, carrying what a subscriber shows without a lookup."""

    execution_id: str
    task_id: str
    task_name: str
    status: Status
    at: datetime
    attempt: int = 0
    message: str = ""
    origin: str = ""
    label: str | None = None
    tags: tuple[str, ...] = ()
    exit_code: int | None = None
    # When the current attempt started; None before the first attempt.
    started_at: datetime | None = None
    # When the execution was created (queued), where the publisher knows it.
    created_at: datetime | None = None
    # The workflow execution this one runs for, and which of its phases (from 1).
    parent_id: str | None = None
    phase: int | None = None
    # The bus numbers every event it publishes, in order (0: not published yet).
    seq: int = 0
    # One of KINDS; `status` is then the execution's status when it was said.
    kind: str = STATUS
    # The check's news (a kind other than `status`): {check, on_violation, reason, ...}.
    check: dict[str, Any] | None = None
    # Why it ended (domain/status.py EndReason), on an end's event.
    end_reason: str | None = None

    @property
    def is_status(self) -> bool:
        """A status change (not a check's news about the run)."""
        return self.kind == STATUS

    # A chained execution: its chain rule, and the executions whose ends fired it.
    chain_id: str | None = None
    triggered_by: tuple[str, ...] = ()
    # Produced by another server on the same database and relayed here (core/cluster.py):
    # shown and waited on here, but sent outward (webhooks, MQTT) by the server that made it.
    remote: bool = False

    @classmethod
    def of(
        cls,
        task: Task,
        execution_id: str,
        status: Status,
        at: datetime,
        *,
        attempt: int = 0,
        message: str = "",
        origin: str = "",
        exit_code: int | None = None,
        started_at: datetime | None = None,
        created_at: datetime | None = None,
        chain: ChainLink | None = None,
        parent_id: str | None = None,
        phase: int | None = None,
        end_reason: str | None = None,
    ) -> ExecutionEvent:
        return cls(
            execution_id=execution_id,
            task_id=task.key,
            task_name=task.name,
            status=status,
            at=at,
            attempt=attempt,
            message=message,
            origin=origin,
            label=task.label,
            tags=tuple(task.tags),
            exit_code=exit_code,
            started_at=started_at,
            created_at=created_at,
            chain_id=chain.chain_id if chain else None,
            triggered_by=chain.triggered_by if chain else (),
            parent_id=parent_id,
            phase=phase,
            end_reason=end_reason,
        )

    def to_payload(self) -> dict[str, Any]:
        """The JSON object every outward channel (MQTT, webhooks, stream) sends."""
        duration_ms = None
        if self.started_at is not None and self.status.is_terminal:
            duration_ms = round((self.at - self.started_at).total_seconds() * 1000)
        payload = {
            "execution_id": self.execution_id,
            "task_id": self.task_id,
            "task_name": self.task_name,
            "label": self.label,
            "tags": list(self.tags),
            "status": self.status.value,
            "attempt": self.attempt,
            "at": self.at.isoformat(),
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "duration_ms": duration_ms,
            "exit_code": self.exit_code,
            "origin": self.origin,
            "message": self.message,
            "end_reason": self.end_reason,
            "kind": self.kind,
            **({"check": self.check} if self.check is not None else {}),
            "parent_id": self.parent_id,
            "phase": self.phase,
        }
        if self.chain_id is not None:
            # A chained execution's events say which rule and which ends started it.
            payload["chain_id"] = self.chain_id
            payload["triggered_by"] = list(self.triggered_by)
        return payload


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which events a subscriber wants (the live stream, a webhook, MQTT's event topic).

    An event must match every filter given; a filter left empty matches every event. Tasks
    are named by id or by label.
    """

    tasks: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()
    executions: frozenset[str] = frozenset()
    statuses: frozenset[Status] = frozenset()
    kinds: frozenset[str] = frozenset()
    # Workflows: the events of these executions and of their members (one level down).
    within: frozenset[str] = frozenset()

    @classmethod
    def of(
        cls,
        *,
        tasks: Iterable[str] = (),
        tags: Iterable[str] = (),
        executions: Iterable[str] = (),
        statuses: Iterable[Status] = (),
        kinds: Iterable[str] = (),
        within: Iterable[str] = (),
    ) -> EventFilter:
        return cls(
            frozenset(tasks),
            frozenset(tags),
            frozenset(executions),
            frozenset(statuses),
            frozenset(kinds),
            frozenset(within),
        )

    def matches(self, event: ExecutionEvent) -> bool:
        if self.tasks and event.task_id not in self.tasks and event.label not in self.tasks:
            return False
        if self.tags and self.tags.isdisjoint(event.tags):
            return False
        if self.executions and event.execution_id not in self.executions:
            return False
        if self.kinds and event.kind not in self.kinds:
            return False
        if (
            self.within
            and event.execution_id not in self.within
            and event.parent_id not in self.within
        ):
            return False
        return not self.statuses or event.status in self.statuses
