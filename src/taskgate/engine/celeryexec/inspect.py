"""What the workers say about themselves (Celery's remote control): who listens on which
queue, what each runs and holds reserved; and the message that drains one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from taskgate.engine.celeryexec.broker import RUN_TASK


@dataclass
class WorkerView:
    name: str
    queues: list[str] = field(default_factory=list)
    active: list[str] = field(default_factory=list)  # execution ids running
    reserved: list[str] = field(default_factory=list)  # received, not yet running

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "queues": self.queues,
            "active": self.active,
            "reserved": self.reserved,
        }


def _execution_ids(requests: list[dict[str, Any]] | None) -> list[str]:
    ids: list[str] = []
    for request in requests or []:
        args = request.get("args") or []
        if request.get("name") == RUN_TASK and args:
            ids.append(str(args[0]))
    return ids


def inspect_workers(app: Any, timeout: float) -> list[WorkerView]:
    """Every worker that answers within `timeout` (blocking: call it from a thread)."""
    inspector = app.control.inspect(timeout=timeout)
    queues = inspector.active_queues() or {}
    active = inspector.active() or {}
    reserved = inspector.reserved() or {}
    views = []
    for name in sorted(set(queues) | set(active) | set(reserved)):
        views.append(
            WorkerView(
                name,
                sorted(q["name"] for q in queues.get(name) or []),
                _execution_ids(active.get(name)),
                _execution_ids(reserved.get(name)),
            )
        )
    return views


def drain(app: Any, hostname: str, timeout: float = 2.0) -> bool:
    """Tell the worker `hostname` to stop taking messages and exit once its runs have ended
    (Celery's warm shutdown); False when no such worker answered."""
    if not app.control.ping(destination=[hostname], timeout=timeout):
        return False
    app.control.broadcast("shutdown", destination=[hostname])
    return True


QueueDepth = Callable[[str], int | None]


def queue_depth(app: Any) -> QueueDepth:
    """Messages waiting in a broker queue (None when the broker cannot say)."""

    def depth(queue: str) -> int | None:
        try:
            with app.connection_for_read() as conn, conn.channel() as channel:
                declared = channel.queue_declare(queue=queue, passive=True)
                return int(declared.message_count)
        except Exception:
            return None

    return depth
