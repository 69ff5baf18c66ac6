"""Queues and workers: what waits for a worker, what each worker runs and holds."""

from fastapi import APIRouter

from taskgate.core.queues import QueuesView
from taskgate.doors.api.deps import Core, Viewer

router = APIRouter(prefix="/api/v1", tags=["executions"])


@router.get("/queues", response_model=QueuesView)
async def queues(core: Core, _: Viewer) -> QueuesView:
    """Per queue, the executions that wait for a worker and the workers listening on it (a
    queue no worker listens on says so); per worker, what it runs (active) and what it has
    received but not started (reserved). With the local executor: what waits for a slot."""
    return await core.queues.view()
