"""The in-process event bus: every status change, to every listener, in order.

On PostgreSQL the bus also carries the events of the other servers on the database
(core/cluster.py relays them, marked `remote`): subscribers (waiters, streams, the MQTT
door's replies, `listen_all` listeners) see every event of the cluster; `listen` listeners
(webhook recording, metrics counters) only those made in this process, so that what they do
is done once per cluster, by the server that made the event.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from taskgate.core.subscription import Subscription
from taskgate.domain.events import ExecutionEvent

log = logging.getLogger(__name__)

# How often a part that waits for another process's changes (a waiter, the executor looking
# for aborts asked elsewhere) reads the store again, while no relay brings those changes.
STORE_RECHECK_SECONDS = 1.0


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


def _call_each(listeners: list[Callable[..., None]], *args: ExecutionEvent) -> None:
    """Each listener in turn: one that fails is logged and does not keep the others from it."""
    for listener in listeners:
        try:
            listener(*args)
        except Exception:
            log.exception("event listener %r failed", listener)


class EventBus:
    """Numbers each event (`seq`, from 1, per process) and keeps the latest of them, so a
    listener that was away for a moment (a stream that reconnects) can catch up. The history
    holds at most `history` events and about `history_bytes` of memory, whichever is reached
    first: long messages must not make a busy server's memory grow with them."""

    def __init__(
        self, queue_size: int = 10000, history: int = 10000, history_bytes: int = 2 * 1024 * 1024
    ) -> None:
        self._subscriptions: set[Subscription] = set()
        self._ended: dict[str, list[asyncio.Future[ExecutionEvent | None]]] = {}
        self._queue_size = queue_size
        self._listeners: list[Callable[[ExecutionEvent], None]] = []
        self._hearers: list[Callable[[ExecutionEvent], None]] = []
        self._gap_listeners: list[Callable[[], None]] = []
        # How many times events may have been missed (`gap`): a stream tells its client.
        self.gaps = 0
        self._recent: deque[ExecutionEvent] = deque()
        self._history = history
        self._history_bytes = history_bytes
        self._recent_bytes = 0
        self._seq = 0
        # Tells this process's numbering from an earlier one's (the stream puts it in its ids).
        self.epoch = format(time.time_ns() // 1_000_000, "x")
        # Set by the cluster relay: handed every event made in this process, after it is
        # delivered here.
        self.relay: Callable[[ExecutionEvent], None] | None = None
        # Lengthened by the relay while it brings the other servers' events.
        self.store_recheck_seconds = STORE_RECHECK_SECONDS

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
        """Call `listener` with every event made in this process as it is published: for
        quick work only (counting)."""
        self._listeners.append(listener)

    def listen_all(self, listener: Callable[[ExecutionEvent], None]) -> None:
        """Call `listener` with every event this bus carries, this process's and the ones
        other processes relay (`remote`): for quick work only (counting the cluster's)."""
        self._hearers.append(listener)

    def publish(self, event: ExecutionEvent) -> None:
        """An event made in this process: to everyone here, then to the other servers."""
        event = self._deliver(event)
        _call_each(self._listeners, event)
        if self.relay is not None:
            self.relay(event)

    def publish_remote(self, event: ExecutionEvent) -> None:
        """An event another server made (`remote`): to the subscribers and waiters here."""
        self._deliver(event)

    def on_gap(self, listener: Callable[[], None]) -> None:
        """Call `listener` when events of other servers may have been missed (the relay was
        cut off): a part that follows executions by their events reads the store again."""
        self._gap_listeners.append(listener)

    def gap(self) -> None:
        """Events may have been missed: waiters and `on_gap` listeners read the store again."""
        self.gaps += 1
        self.wake_waiters()
        _call_each(self._gap_listeners)

    def wake_waiters(self) -> None:
        """Every waiter reads the store again: events may have been missed (a relay that was
        cut off)."""
        waiting, self._ended = self._ended, {}
        for futures in waiting.values():
            for future in futures:
                if not future.done():
                    future.set_result(None)

    def _deliver(self, event: ExecutionEvent) -> ExecutionEvent:
        self._seq += 1
        event = dataclasses.replace(event, seq=self._seq)
        self._keep(event)
        _call_each(self._hearers, event)
        for subscription in self._subscriptions:
            subscription.offer(event)
        if event.is_status and event.status.is_terminal:
            for future in self._ended.pop(event.execution_id, []):
                if not future.done():
                    future.set_result(event)
        return event

    @asynccontextmanager
    async def subscribe(self, after: int | None = None) -> AsyncIterator[Subscription]:
        """Every event delivered from now on, or from just `after` the given number (a stream
        that resumes): see core/subscription.py."""
        subscription = Subscription(
            self.since,
            self._queue_size,
            after=self._seq if after is None else after,
            behind=after is not None,
        )
        self._subscriptions.add(subscription)
        try:
            yield subscription
        finally:
            self._subscriptions.discard(subscription)

    def ended(self, execution_id: str) -> asyncio.Future[ExecutionEvent | None]:
        """A future that resolves with the execution's terminal event when this bus carries
        it, or with None when the waiter should read the store again (`wake_waiters`)."""
        future: asyncio.Future[ExecutionEvent | None] = asyncio.get_running_loop().create_future()
        self._ended.setdefault(execution_id, []).append(future)
        return future

    def forget(self, execution_id: str, future: asyncio.Future[ExecutionEvent | None]) -> None:
        waiting = self._ended.get(execution_id)
        if waiting and future in waiting:
            waiting.remove(future)
            if not waiting:
                del self._ended[execution_id]
