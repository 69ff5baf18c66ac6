"""Several servers on one PostgreSQL database: each one's events reach all the others.

Every event published on this server's bus is sent as a PostgreSQL notification (one
statement per batch, right after the commit that made it); every server listens on its own
connection and publishes the others' events on its bus, marked `remote`. What acts on them:

- waiters (`/wait`, synchronous starts, QRS and Butler polls answer from the store anyway),
  live streams (SSE, the dashboard) and the MQTT door's end replies: every event, on every
  server;
- an `abort_initiated` for a run this server holds: the run is stopped at once;
- webhooks, MQTT state events and metrics counters: only on the server that made the event
  (`EventBus.listen`), so each is sent or counted once per cluster; but for the counter of
  the whole cluster's status changes, the same on every server (`EventBus.listen_all`).

Each notification carries its sender and a number: a server drops its own notifications and
any it has already delivered (a batch sent again after a failure), so each event is
delivered once per server, in the order its sender published it. A notification that would
pass PostgreSQL's 8000 bytes names the execution instead; the receiver reads it from the
store. When the listening connection is lost, waiters fall back to reading the store every
second; once it is back, every waiter reads the store again, the parts that follow
executions by their events are told (`EventBus.gap`: the MQTT door's end answers, live
streams) and aborts asked meanwhile are looked up, so nothing waits for an event that went by
while it was away.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections import deque
from datetime import datetime
from typing import Any

from taskgate.core.background import stop_task
from taskgate.core.connections import ConnectionState
from taskgate.core.context import CoreContext
from taskgate.core.events import STORE_RECHECK_SECONDS
from taskgate.core.rowevents import row_event
from taskgate.domain.backoff import backoff_delay
from taskgate.domain.events import ExecutionEvent
from taskgate.domain.eventwire import dumps, event_fields, event_from_fields
from taskgate.domain.status import Status
from taskgate.store import executions as rows
from taskgate.store.notices import MAX_PAYLOAD_BYTES, NoticeListener, NoticeSender

log = logging.getLogger(__name__)

BATCH = 500
# How long the first event of a batch waits for others (what it adds to the other servers'
# latency), so that under load one statement carries many events.
GATHER_SECONDS = 0.005
# Events waiting to be sent while the database does not take them; past this the oldest go
# (the other servers' waiters still find those ends in the store).
PENDING_LIMIT = 100_000
# How long `start` waits for the first LISTEN before the server goes on without it.
FIRST_LISTEN_SECONDS = 10.0
STOP_FLUSH_SECONDS = 5.0
# An abort relayed for a run this server does not run (yet): looked for in the store after this.
LOOK_AGAIN_SECONDS = 0.5


class EventRelay:
    def __init__(
        self,
        ctx: CoreContext,
        sender: NoticeSender,
        listener: NoticeListener,
        *,
        recheck_seconds: float,
    ) -> None:
        self.ctx = ctx
        self.sender = sender
        self.listener = listener
        self.recheck_seconds = recheck_seconds
        # The listening connection, for /metrics (outages) and the log.
        self.state = ConnectionState()
        # Numbered as they are published: a batch sent again keeps its numbers, and the
        # servers that had it drop it.
        self._pending: deque[tuple[int, ExecutionEvent]] = deque()
        self._has_pending = asyncio.Event()
        self._listening = asyncio.Event()
        self._number = 0
        # How this server's own notifications begin (`_payload` writes the sender first).
        self._own = dumps({"s": ctx.instance})[:-1] + ","
        # The last number delivered from each sender (a server process).
        self._delivered: dict[str, int] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[None]] = set()
        self._stopping = False

    async def start(self) -> None:
        self.ctx.bus.relay = self._enqueue
        self._tasks = [
            asyncio.create_task(self._send_loop(), name="taskgate-events-send"),
            asyncio.create_task(
                self.listener.run(self._connected, self._lost, self._receive),
                name="taskgate-events-listen",
            ),
        ]
        try:
            await asyncio.wait_for(self._listening.wait(), FIRST_LISTEN_SECONDS)
        except TimeoutError:
            log.warning(
                "not listening to the other servers' events yet (%s); trying on",
                self.state.last_error or "no answer",
            )

    async def stop(self) -> None:
        self.ctx.bus.relay = None
        self._stopping = True
        for task in [*self._tasks, *self._background]:
            await stop_task(task)
        self._tasks = []
        # The events of this server's last moments (runs it ended as it stops) still go out;
        # a batch the send loop was cut off in is sent again (receivers drop what they had).
        if self._pending:
            try:
                await asyncio.wait_for(self._flush(), STOP_FLUSH_SECONDS)
            except Exception as exc:
                log.warning("%d events not sent to the other servers: %s", len(self), exc)
        await self.sender.close()

    def __len__(self) -> int:
        return len(self._pending)

    # -- sending ---------------------------------------------------------------------------

    def _enqueue(self, event: ExecutionEvent) -> None:
        if len(self._pending) >= PENDING_LIMIT:
            self._pending.popleft()
            log.error("%d events wait to be sent to the other servers; dropping one", PENDING_LIMIT)
        self._number += 1
        self._pending.append((self._number, event))
        self._has_pending.set()

    async def _send_loop(self) -> None:
        failures = 0
        while True:
            await self._has_pending.wait()
            # The events published in the next moment join this batch: a notification costs
            # the server ~0.1 ms of CPU to send and again to hear back, a batch about the same.
            if len(self._pending) < BATCH:
                await asyncio.sleep(GATHER_SECONDS)
            self._has_pending.clear()
            try:
                await self._flush()
                failures = 0
            except Exception as exc:
                failures += 1
                delay = backoff_delay(failures, first=0.05, longest=2.0)
                log.warning("events not sent to other servers yet (%s); again in %gs", exc, delay)
                self._has_pending.set()
                await asyncio.sleep(delay)

    async def _flush(self) -> None:
        while self._pending:
            count = min(len(self._pending), BATCH)
            payloads = [self._payload(*self._pending[i]) for i in range(count)]
            await self.sender.send(payloads)
            for _ in range(count):
                self._pending.popleft()

    def _payload(self, number: int, event: ExecutionEvent) -> str:
        head = {"s": self.ctx.instance, "n": number}
        text = dumps({**head, "e": event_fields(event)})
        if len(text.encode()) > MAX_PAYLOAD_BYTES:
            # Too long for a notification (a long message, many tags): the receivers read the
            # execution from the store.
            text = dumps(
                {
                    **head,
                    "x": event.execution_id,
                    "status": event.status.value,
                    "kind": event.kind,
                    "at": event.at.isoformat(),
                }
            )
        return text

    # -- receiving -------------------------------------------------------------------------

    async def _connected(self, again: bool) -> None:
        self.state.came_up()
        self.ctx.bus.store_recheck_seconds = self.recheck_seconds
        if again:
            log.info("listening to the other servers' events again; catching up from the store")
            await self._catch_up()
        self._listening.set()

    def _lost(self, why: str) -> None:
        self.state.last_error = why
        if self.state.connected:
            log.warning("lost the other servers' events (%s); reconnecting", why)
        self.state.went_down()
        self.ctx.bus.store_recheck_seconds = STORE_RECHECK_SECONDS
        # Waiters asleep on the long recheck take the short one from now.
        self.ctx.bus.wake_waiters()

    async def _catch_up(self) -> None:
        """What a gap in the events may have hidden: ends (waiters and the parts that follow
        executions read the store again) and aborts of runs held here (the executor's own
        look at the store finds them later if this one fails)."""
        self.ctx.bus.gap()
        await self._look_for_aborts()

    async def _look_for_aborts(self) -> None:
        executor = self.ctx.executor
        if executor is None:
            return
        instance = self.ctx.instance
        try:
            wanted = await self.ctx.db.read(
                lambda conn: rows.in_statuses(conn, [Status.ABORT_INITIATED], instance=instance)
            )
        except Exception as exc:
            log.warning("aborts asked elsewhere not looked up: %s", exc)
            return
        for row in wanted:
            executor.abort_local(row.id)

    async def _receive(self, payload: str) -> None:
        if payload.startswith(self._own):
            return  # this server's own, back from the channel: not even parsed
        try:
            notice: dict[str, Any] = json.loads(payload)
            sender, number = str(notice["s"]), int(notice["n"])
        except (ValueError, KeyError, TypeError):
            log.warning("not a taskgate event notification: %.200s", payload)
            return
        if sender == self.ctx.instance:
            return
        last = self._delivered.get(sender, 0)
        if number <= last:
            return
        self._delivered[sender] = number
        try:
            event = (
                event_from_fields(notice["e"]) if "e" in notice else await self._from_store(notice)
            )
        except Exception:
            log.exception("event notification from %s not understood: %.200s", sender, payload)
            return
        if last and number > last + 1:
            # Notifications of that server went missing (it gave a batch up): look again.
            await self._catch_up()
        if event is not None:
            self._publish(event)

    async def _from_store(self, notice: dict[str, Any]) -> ExecutionEvent | None:
        execution_id = str(notice["x"])
        row = await self.ctx.db.read(lambda conn: rows.get_row(conn, execution_id))
        if row is None:
            return None
        event = row_event(row, Status(notice["status"]), datetime.fromisoformat(notice["at"]))
        return dataclasses.replace(event, kind=str(notice["kind"]), remote=True)

    def _publish(self, event: ExecutionEvent) -> None:
        self.ctx.bus.publish_remote(event)
        if event.is_status and event.status is Status.ABORT_INITIATED:
            # Asked on another server: the one that runs it stops it now.
            executor = self.ctx.executor
            if executor is not None and not executor.abort_local(event.execution_id):
                # Not running here, or claimed here a moment ago and not launched yet (the
                # claim's commit is what let the abort be asked): look once more, soon.
                asyncio.get_running_loop().call_later(LOOK_AGAIN_SECONDS, self._look_again)

    def _look_again(self) -> None:
        if self._stopping:
            return
        task = asyncio.create_task(self._look_for_aborts())
        self._background.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._background.discard)


def relay_for(ctx: CoreContext, *, recheck_seconds: float) -> EventRelay:
    """The relay of a process on `ctx`'s PostgreSQL database (a server, or any process that
    makes events the servers must hear), with its own two connections."""
    url = ctx.db.url
    return EventRelay(
        ctx,
        NoticeSender(url, ctx.instance),
        NoticeListener(url, ctx.instance),
        recheck_seconds=recheck_seconds,
    )
