"""The event every status change publishes, and the filter its subscribers choose by."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from taskgate.domain.status import Status
from taskgate.domain.tasks import Task


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
        parent_id: str | None = None,
        phase: int | None = None,
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
            parent_id=parent_id,
            phase=phase,
        )

    def to_payload(self) -> dict[str, Any]:
        """The JSON object every outward channel (MQTT, webhooks, stream) sends."""
        duration_ms = None
        if self.started_at is not None and self.status.is_terminal:
            duration_ms = round((self.at - self.started_at).total_seconds() * 1000)
        return {
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
            "parent_id": self.parent_id,
            "phase": self.phase,
        }


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

    @classmethod
    def of(
        cls,
        *,
        tasks: Iterable[str] = (),
        tags: Iterable[str] = (),
        executions: Iterable[str] = (),
        statuses: Iterable[Status] = (),
    ) -> EventFilter:
        return cls(frozenset(tasks), frozenset(tags), frozenset(executions), frozenset(statuses))

    def matches(self, event: ExecutionEvent) -> bool:
        if self.tasks and event.task_id not in self.tasks and event.label not in self.tasks:
            return False
        if self.tags and self.tags.isdisjoint(event.tags):
            return False
        if self.executions and event.execution_id not in self.executions:
            return False
        return not self.statuses or event.status in self.statuses
