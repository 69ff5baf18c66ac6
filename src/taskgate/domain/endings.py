"""An execution's end as data, and what its transaction leaves to do after the commit (see
core/endings.py for the hooks that use them)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from taskgate.domain.events import ExecutionEvent
from taskgate.domain.status import Status


class Publisher(Protocol):
    def publish(self, event: ExecutionEvent) -> object: ...


@dataclass(frozen=True)
class Ended:
    """An execution that has just reached an end status (never `retry`)."""

    execution_id: str
    task_id: str
    status: Status
    at: datetime
    origin: str
    parent_id: str | None = None


@dataclass
class AfterCommit:
    """What a transaction leaves to do once it has committed."""

    events: list[ExecutionEvent] = field(default_factory=list)
    callbacks: list[Callable[[], None]] = field(default_factory=list)

    def publish(self, event: ExecutionEvent) -> None:
        self.events.append(event)

    def then(self, callback: Callable[[], None]) -> None:
        self.callbacks.append(callback)

    def run(self, bus: Publisher) -> None:
        for event in self.events:
            bus.publish(event)
        for callback in self.callbacks:
            callback()
