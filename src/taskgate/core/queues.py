"""What waits for a worker, and which workers are there (GET /api/v1/queues, taskgate queues)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from taskgate.core.clock import utcnow
from taskgate.core.context import CoreContext
from taskgate.core.contracts import QueueInspector
from taskgate.store import publishing

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


class QueueService:
    def __init__(self, ctx: CoreContext) -> None:
        self.ctx = ctx
        self.inspector: QueueInspector | None = None  # set by a distributed executor

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
        listening: dict[str, list[str]] = {}
        for worker in workers:
            for queue in worker.queues:
                listening.setdefault(queue, []).append(worker.name)
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
