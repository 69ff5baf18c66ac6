"""One attempt that this process runs: what the dispatcher claimed, and its events."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from taskgate.domain.chains import ChainLink
from taskgate.domain.events import ExecutionEvent
from taskgate.domain.status import Status
from taskgate.domain.tasks import Task


@dataclass
class Run:
    execution_id: str
    task: Task
    number: int
    params: dict[str, Any]
    # Where this attempt's log continues the execution's log.
    base_offset: int
    started_at: datetime
    origin: str
    created_at: datetime
    abort: asyncio.Event = field(default_factory=asyncio.Event)
    pid: int | None = None
    worker: asyncio.Task[None] | None = None
    # Why this process stopped the run on its own (it lost its lease); "" while it holds it.
    lost: str = ""
    # The workflow (or other execution) this one runs for, if any, and its phase there.
    parent_id: str | None = None
    # A chained execution: what its events name.
    chain: ChainLink | None = None
    phase: int | None = None
    # Publishes its STARTED event (and its start's) if not done yet: see LocalExecutor.launch.
    announce: Callable[[], None] = field(default=lambda: None, repr=False)

    def event(
        self,
        status: Status,
        at: datetime,
        *,
        message: str = "",
        exit_code: int | None = None,
        end_reason: str | None = None,
    ) -> ExecutionEvent:
        return ExecutionEvent.of(
            self.task,
            self.execution_id,
            status,
            at,
            attempt=self.number,
            message=message,
            origin=self.origin,
            exit_code=exit_code,
            started_at=self.started_at,
            created_at=self.created_at,
            chain=self.chain,
            parent_id=self.parent_id,
            phase=self.phase,
            end_reason=end_reason,
        )
