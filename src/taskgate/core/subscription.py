"""One listener's share of the event bus: every event, in order, even when it falls behind.

A subscriber that does not keep up (a slow SSE client, a burst of thousands of events) is not
handed more than its queue holds; the bus does not stall for it, and it does not lose what
overflowed either: when it has read its queue, it takes the events it was not handed from the
bus's history. Only when the history no longer reaches back that far has it missed some, and
it is told so (`missed`), so that a stream can say `gap` and a client read the store again.
A subscription that resumes after a given event (a stream reconnecting with Last-Event-ID)
starts out behind, at that event.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from taskgate.domain.events import ExecutionEvent

# The bus's history: the events after a number still kept, and whether some are no longer kept.
History = Callable[[int], tuple[list[ExecutionEvent], bool]]


class Subscription:
    def __init__(self, history: History, size: int, *, after: int, behind: bool) -> None:
        self._history = history
        self._queue: asyncio.Queue[ExecutionEvent] = asyncio.Queue(size)
        # The number of the last event queued (or, while behind, the last one taken).
        self._last = after
        self._behind = behind
        # How many times events went by that this subscriber can no longer be given.
        self.missed = 0

    def offer(self, event: ExecutionEvent) -> None:
        """Called by the bus with each event as it is delivered."""
        if self._behind:
            return  # taken from the history when the subscriber has caught up with its queue
        if self._queue.full():
            self._behind = True
            return
        self._queue.put_nowait(event)
        self._last = event.seq

    async def get(self) -> ExecutionEvent:
        """The next event, waiting for it."""
        if self._behind and self._queue.empty():
            self._catch_up()
        return await self._queue.get()

    def ready(self) -> list[ExecutionEvent]:
        """Every event there is now, without waiting."""
        taken: list[ExecutionEvent] = []
        while True:
            if self._behind and self._queue.empty():
                self._catch_up()
            if self._queue.empty():
                return taken
            taken.append(self._queue.get_nowait())

    def _catch_up(self) -> None:
        # Nothing is delivered while this runs (no await): the history and the queue agree.
        kept, lost = self._history(self._last)
        if lost:
            self.missed += 1
        self._behind = False
        for event in kept:
            if self._queue.full():
                self._behind = True
                return
            self._queue.put_nowait(event)
            self._last = event.seq
