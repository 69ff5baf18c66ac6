"""The parts every core service shares."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field

from taskgate.core.contracts import Executor
from taskgate.core.endings import Endings
from taskgate.core.events import EventBus
from taskgate.store.db import Database


def new_instance(node: str) -> str:
    """A name for this server process, unique even among processes that share a node name:
    the executions it runs are held (leased) by it, never by the node name."""
    return f"{node}/{os.getpid()}-{secrets.token_hex(4)}"


@dataclass
class CoreContext:
    db: Database
    bus: EventBus
    # The name people see (the host name by default): recorded on every attempt.
    node: str
    executor: Executor | None = None
    idempotency_hours: float = 24.0
    instance: str = field(default="")
    # What follows an execution's end, in the same transaction (chains, workflows).
    endings: Endings = field(default_factory=Endings)

    def __post_init__(self) -> None:
        if not self.instance:
            self.instance = new_instance(self.node)

    def notify_executor(self) -> None:
        if self.executor is not None:
            self.executor.notify()
