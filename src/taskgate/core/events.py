"""The in-process event bus: every status change, to every listener, in order."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from taskgate.domain.events import ExecutionEvent

log = logging.getLogger(__name__)


# What one kept event costs in memory besides its variable text (measured with tracemalloc:
# the slotted event, its ids and three datetimes, ~500 bytes with short texts).
EVENT_BASE_BYTES = 450


def event_bytes(event: ExecutionEvent) -> int:
    """An estimate of the memory an event kept in the history holds (cheap: no serialising
    but for the rare check news)."""
    size = EVENT_BASE_BYTES + len(event.message) + len(event.task_name) + len(event.label or "")
    size += sum(len(tag) for tag in event.tags)
    if event.check:
        size += len(str(event.check))
    return size


class EventBus:
    """Numbers each event (`seq`, from 1, per process) and keeps the latest of them, so a
    listener that was away for a moment (a stream that reconnects) can catch up. The history
    holds at most `history` events and about `history_bytes` of memory, whichever is reached
    first: long messages must not make a busy server's memory grow with them."""

    def __init__(
        self, queue_size: int = 10000, history: int = 10000, history_bytes: int = 2 * 1024 * 1024
    ) -> None:
        self._queues: set[asyncio.Queue[ExecutionEvent]] = set()
        self._ended: dict[str, list[asyncio.Future[ExecutionEvent]]] = {}
        self._queue_size = queue_size
        self._listeners: list[Callable[[ExecutionEvent], None]] = []
        self._recent: deque[ExecutionEvent] = deque()
        self._history = history
        self._history_bytes = history_bytes
        self._recent_bytes = 0
        self._seq = 0
        # Tells this process's numbering from an earlier one's (the stream puts it in its ids).
        self.epoch = format(time.time_ns() // 1_000_000, "x")

    @property
    def last_seq(self) -> int:
        return self._seq

    def since(self, seq: int) -> tuple[list[ExecutionEvent], bool]:
        """Events after `seq` still kept, and whether some after it are no longer kept."""
        if seq >= self._seq:
            return [], False
        oldest = self._recent[0].seq if self._recent else self._seq + 1
        kept = [e for e in self._recent if e.seq > seq] if seq >= oldest - 1 else list(self._recent)
        return kept, seq < oldest - 1

    @property
    def history_bytes(self) -> int:
        """The estimated memory the kept events hold (event_bytes)."""
        return self._recent_bytes

    def _keep(self, event: ExecutionEvent) -> None:
        self._recent.append(event)
        self._recent_bytes += event_bytes(event)
        while self._recent and (
            len(self._recent) > self._history or self._recent_bytes > self._history_bytes
        ):
            self._recent_bytes -= event_bytes(self._recent.popleft())

    def listen(self, listener: Callable[[ExecutionEvent], None]) -> None:
        """Call `listener` with every event as it is published: for quick work only (counting)."""
        self._listeners.append(listener)

    def publish(self, event: ExecutionEvent) -> None:
        self._seq += 1
        event = dataclasses.replace(event, seq=self._seq)
        self._keep(event)
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                log.exception("event listener %r failed", listener)
        for queue in self._queues:
            if queue.full():
                # A listener that cannot keep up loses its oldest event, never stalls the bus.
                queue.get_nowait()
            queue.put_nowait(event)
        if event.is_status and event.status.is_terminal:
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
