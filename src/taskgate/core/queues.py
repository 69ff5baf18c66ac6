"""What waits for a worker, and which workers are there (GET /api/v1/queues, taskgate queues);
and, for one waiting execution, whether any worker listens on its route (its own view)."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime

from pydantic import BaseModel, Field

from taskgate.core.clock import utcnow
from taskgate.core.context import CoreContext
from taskgate.core.contracts import QueueInspector
from taskgate.domain.executions import Execution
from taskgate.domain.status import Status
from taskgate.store import publishing

log = logging.getLogger(__name__)

LOCAL_QUEUE = "local"


class QueueView(BaseModel):
    route: str | None = Field(description="The tasks' route (null: the default route).")
    queue: str = Field(description="Its queue in the broker ('local': the local executor).")
    waiting: int = Field(description="Executions due to run that no worker has claimed yet.")
    oldest_waiting_since: datetime | None
    workers: list[str] = Field(description="The workers listening on this queue.")
    messages: int | None = Field(
        None, description="Messages in the broker's queue (null: local executor, or unknown)."
    )
    note: str = ""


class WorkerView(BaseModel):
    name: str
    queues: list[str]
    active: list[str] = Field(description="Execution ids it runs.")
    reserved: list[str] = Field(description="Execution ids it holds, not yet running.")


class QueuesView(BaseModel):
    executor: str
    queues: list[QueueView]
    workers: list[WorkerView]


NO_WORKER = "no worker listens on this queue: its executions stay queued until one does"
# An execution's own view reuses the workers' answer this long: asking them takes the
# inspector's whole timeout (a second), and a page or a client may ask every moment.
LISTENING_TTL_SECONDS = 5.0
_WAITING = frozenset({Status.QUEUED, Status.RETRY})


def no_worker_note(route: str | None, queue: str) -> str:
    return (
        f"no worker listens on its route {route or '(default)'} (queue {queue}): "
        "it stays queued until one does"
    )


class QueueService:
    def __init__(self, ctx: CoreContext) -> None:
        self.ctx = ctx
        self.inspector: QueueInspector | None = None  # set by a distributed executor
        self._listening: tuple[float, dict[str, list[str]]] | None = None
        self._asking = asyncio.Lock()

    async def annotate(self, execution: Execution) -> Execution:
        """The execution with `queue_note` set while it waits on a route no worker listens
        on (GET /api/v1/executions/{id}, the CLI's show, the dashboard's page)."""
        inspector = self.inspector
        if inspector is None or execution.status not in _WAITING:
            return execution
        execution_id = execution.id
        route = await self.ctx.db.read(lambda conn: publishing.route_of(conn, execution_id))
        queue = inspector.queue_of(route)
        try:
            listening = await self.listening()
        except Exception as exc:
            # The broker is away: the view says nothing rather than something wrong.
            log.warning("workers not asked (%s): no queue note for %s", exc, execution_id)
            return execution
        if listening.get(queue):
            return execution
        return execution.model_copy(update={"queue_note": no_worker_note(route, queue)})

    async def listening(self) -> dict[str, list[str]]:
        """The workers listening on each broker queue, as answered within the last
        LISTENING_TTL_SECONDS (concurrent callers share one question)."""
        assert self.inspector is not None
        async with self._asking:
            kept = self._listening
            if kept is not None and time.monotonic() - kept[0] < LISTENING_TTL_SECONDS:
                return kept[1]
            workers = [WorkerView.model_validate(w) for w in await self.inspector.workers()]
            listening = _listeners(workers)
            self._listening = (time.monotonic(), listening)
            return listening

    async def view(self) -> QueuesView:
        now = utcnow()
        waiting = await self.ctx.db.read(lambda conn: publishing.waiting_by_route(conn, now))
        if self.inspector is None:
            queues = [
                QueueView(
                    route=w.route,
                    queue=LOCAL_QUEUE,
                    waiting=w.count,
                    oldest_waiting_since=w.oldest,
                    workers=[self.ctx.node],
                )
                for w in waiting
            ]
            return QueuesView(executor="local", queues=queues, workers=[])
        inspector = self.inspector
        workers = [WorkerView.model_validate(w) for w in await inspector.workers()]
        listening = _listeners(workers)
        self._listening = (time.monotonic(), listening)
        views: dict[str, QueueView] = {}
        for w in waiting:
            name = inspector.queue_of(w.route)
            views[name] = _queue(w.route, name, listening, w.count, w.oldest)
        for name in listening:
            if name not in views:
                views[name] = _queue(None, name, listening, 0, None)
        for view in views.values():
            view.messages = await inspector.messages(view.queue)
        return QueuesView(
            executor="celery", queues=sorted(views.values(), key=lambda q: q.queue), workers=workers
        )


def _listeners(workers: list[WorkerView]) -> dict[str, list[str]]:
    """Queue -> the workers listening on it."""
    listening: dict[str, list[str]] = {}
    for worker in workers:
        for queue in worker.queues:
            listening.setdefault(queue, []).append(worker.name)
    return listening


def _queue(
    route: str | None,
    name: str,
    listening: dict[str, list[str]],
    count: int,
    oldest: datetime | None,
) -> QueueView:
    workers = listening.get(name, [])
    return QueueView(
        route=route,
        queue=name,
        waiting=count,
        oldest_waiting_since=oldest,
        workers=workers,
        note="" if workers else NO_WORKER,
    )
