"""The in-process event bus: every status change, to every listener, in order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from taskgate.domain.events import ExecutionEvent


class EventBus:
    def __init__(self, queue_size: int = 10000) -> None:
        self._queues: set[asyncio.Queue[ExecutionEvent]] = set()
        self._ended: dict[str, list[asyncio.Future[ExecutionEvent]]] = {}
        self._queue_size = queue_size

    def publish(self, event: ExecutionEvent) -> None:
        for queue in self._queues:
            if queue.full():
                # A listener that cannot keep up loses its oldest event, never stalls the bus.
                queue.get_nowait()
            queue.put_nowait(event)
        if event.status.is_terminal:
            for future in self._ended.pop(event.execution_id, []):
                if not future.done():
                    future.set_result(event)

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[ExecutionEvent]]:
        queue: asyncio.Queue[ExecutionEvent] = asyncio.Queue(self._queue_size)
        self._queues.add(queue)
        try:
            yield queue
        finally:
            self._queues.discard(queue)

    def ended(self, execution_id: str) -> asyncio.Future[ExecutionEvent]:
        """A future that resolves when this process publishes the execution's terminal event."""
        future: asyncio.Future[ExecutionEvent] = asyncio.get_running_loop().create_future()
        self._ended.setdefault(execution_id, []).append(future)
        return future

    def forget(self, execution_id: str, future: asyncio.Future[ExecutionEvent]) -> None:
        waiting = self._ended.get(execution_id)
        if waiting and future in waiting:
            waiting.remove(future)
            if not waiting:
                del self._ended[execution_id]
