"""The event every status change publishes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from taskgate.domain.status import Status


@dataclass(frozen=True)
class ExecutionEvent:
    execution_id: str
    task_id: str
    task_name: str
    status: Status
    at: datetime
    attempt: int = 0
    message: str = ""
