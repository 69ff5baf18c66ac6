"""The event every status change publishes."""

from __future__ import annotations

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
        }
