"""What the core needs from the engine, kept small so executors are plug-ins."""

from __future__ import annotations

from typing import Protocol


class Executor(Protocol):
    def notify(self) -> None:
        """New executions are queued (or an abort was asked for): look again soon."""

    def abort_local(self, execution_id: str) -> bool:
        """Stop the execution if it runs in this process; False when it does not."""
