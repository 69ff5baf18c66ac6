"""What the core needs from the engine, kept small so executors are plug-ins."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import Connection

from taskgate.domain.events import ExecutionEvent


class Executor(Protocol):
    def notify(self) -> None:
        """New executions are queued (or an abort was asked for): look again soon."""

    def abort_local(self, execution_id: str) -> bool:
        """Stop the execution if it runs in this process; False when it does not."""

    def claim_in(self, conn: Connection) -> Sequence[object] | None:
        """Claim due executions inside the start's own transaction; what it returns goes to
        `launch` once that transaction has committed. None: it cannot, `notify` instead."""

    def launch(self, claimed: Sequence[object], news: Sequence[ExecutionEvent] = ()) -> None:
        """Run what `claim_in` claimed, and publish `news` (the events of the start that
        claimed it) before any event of those runs."""


class QueueInspector(Protocol):
    """What a distributed executor knows of its broker and workers (GET /api/v1/queues)."""

    def queue_of(self, route: str | None) -> str:
        """The broker queue of a route (None: the default route)."""

    async def workers(self) -> list[dict[str, Any]]:
        """Each worker that answers: name, queues, active and reserved execution ids."""

    async def messages(self, queue: str) -> int | None:
        """Messages waiting in a broker queue (None: the broker cannot say)."""
