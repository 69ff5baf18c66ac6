"""The parts every core service shares."""

from __future__ import annotations

from dataclasses import dataclass

from taskgate.core.contracts import Executor
from taskgate.core.events import EventBus
from taskgate.store.db import Database


@dataclass
class CoreContext:
    db: Database
    bus: EventBus
    node: str
    executor: Executor | None = None
    idempotency_hours: float = 24.0

    def notify_executor(self) -> None:
        if self.executor is not None:
            self.executor.notify()
