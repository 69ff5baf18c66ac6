"""The API node's side of the Celery executor: it hands each due execution to the broker as a
message carrying its id, sweeps up starts whose message was lost, and ends the runs of workers
that stopped renewing their leases.

It plays the core's `Executor` contract: `notify` after a start's commit publishes what is
new. Nothing runs here, so `abort_local` is always False: an abort is recorded in the store
and the worker that holds the run picks it up (engine/celeryexec/worker.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection

from taskgate.core.background import Periodic, stop_task
from taskgate.core.clock import utcnow
from taskgate.core.context import CoreContext
from taskgate.domain.events import ExecutionEvent
from taskgate.engine.celeryexec.broker import RunMessages
from taskgate.engine.celeryexec.inspect import inspect_workers, queue_depth
from taskgate.engine.recovery import take_over_expired
from taskgate.store import publishing
from taskgate.store.publishing import ToPublish

log = logging.getLogger(__name__)

BATCH = 200
# After a failed send (broker away), wait this long before trying again.
RETRY_SECONDS = 1.0
# Without a wake-up, look again this often: retries that have come due.
IDLE_SECONDS = 1.0


@dataclass(frozen=True)
class Publishing:
    queue: Callable[[str | None], str]  # route -> broker queue
    unclaimed_seconds: float
    # How often this node ends the runs of processes whose lease ran out.
    lease_sweep_seconds: float
    sweep: bool = True  # API nodes sweep; workers only publish what they start
    inspect_timeout: float = 1.0


class CeleryPublisher:
    def __init__(self, ctx: CoreContext, app: Any, setup: Publishing) -> None:
        self.ctx = ctx
        self.app = app
        self.setup = setup
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        # kombu's producer blocks: sends go through one thread, in order.
        self._sender = ThreadPoolExecutor(1, thread_name_prefix="taskgate-publish")
        self._messages = RunMessages(app)
        self._periodics = [
            Periodic("celery-sweep", setup.unclaimed_seconds / 2, self.sweep, at_start=False),
            Periodic("leases", setup.lease_sweep_seconds, self._take_over, at_start=True),
        ]
        self.published = 0
        # What starts' transactions took, not sent yet: one sender task sends it all, so the
        # starts that commit while a send is under way go out together in the next one.
        self._pending: list[ToPublish] = []
        self._flusher: asyncio.Task[None] | None = None
        # On a worker: the executor that runs here, which a relayed abort must reach.
        self.runs_here: Callable[[str], bool] | None = None

    # -- the Executor contract -------------------------------------------------------------
    def notify(self) -> None:
        self._wake.set()

    def abort_local(self, execution_id: str) -> bool:
        return self.runs_here is not None and self.runs_here(execution_id)

    def claim_in(self, conn: Connection) -> Sequence[object] | None:
        """Mark the start's executions published in its own transaction (one transaction
        less between a start and its run); `launch` sends them once it has committed."""
        return publishing.take_due(conn, utcnow(), BATCH)

    def launch(self, claimed: Sequence[object], news: Sequence[ExecutionEvent] = ()) -> None:
        for event in news:
            self.ctx.bus.publish(event)
        self._pending.extend(item for item in claimed if isinstance(item, ToPublish))
        if self._pending and (self._flusher is None or self._flusher.done()):
            self._flusher = asyncio.create_task(self._send_pending())

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        self._loop_task = asyncio.create_task(self._loop(), name="taskgate-publisher")
        if self.setup.sweep:
            for periodic in self._periodics:
                periodic.start()

    async def stop(self) -> None:
        for periodic in self._periodics:
            await periodic.stop()
        await stop_task(self._loop_task)
        # A send stuck on a broker that is away must not hold the process: what it had not
        # sent is still unclaimed in the store, and the sweep sends it again.
        self._sender.shutdown(wait=False, cancel_futures=True)

    # -- publishing ------------------------------------------------------------------------
    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                while await self.publish_due():
                    pass
            except Exception:
                log.exception("publishing failed; trying again in %gs", RETRY_SECONDS)
                await asyncio.sleep(RETRY_SECONDS)
                continue
            if not self._wake.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), IDLE_SECONDS)

    async def publish_due(self) -> int:
        """Send a message for each due execution not yet published; how many were sent."""
        now = utcnow()
        batch = await self.ctx.db.write(lambda conn: publishing.take_due(conn, now, BATCH))
        await self._send(batch)
        return len(batch)

    async def sweep(self) -> None:
        """Publish again what was published long ago and is still not claimed: its message
        may have been lost with a broker that kept nothing."""
        now = utcnow()
        before = now - timedelta(seconds=self.setup.unclaimed_seconds)
        # A queue that still holds messages has not lost them: its executions are on their
        # way (a route no worker listens on, a worker catching up). Sending more would only
        # pile up duplicates there.
        waiting = await self.ctx.db.read(lambda conn: publishing.waiting_by_route(conn, now))
        queues = {self.setup.queue(w.route) for w in waiting}
        depth = queue_depth(self.app)
        depths = {q: await asyncio.to_thread(depth, q) for q in queues}
        empty = {q for q, n in depths.items() if not n}

        def work(conn: Connection) -> list[ToPublish]:
            if not empty or not publishing.sweep_lock(conn):
                return []
            return publishing.take_due(
                conn,
                now,
                BATCH * 10,
                sent_before=before,
                keep=lambda item: self.setup.queue(item.route) in empty,
            )

        batch = await self.ctx.db.write(work)
        if batch:
            log.info(
                "published again %d execution(s) not claimed after %gs",
                len(batch),
                self.setup.unclaimed_seconds,
            )
        await self._send(batch)

    async def _send_pending(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await self._send(batch)
            except Exception:
                log.warning("publishing failed; trying again", exc_info=True)
                self.notify()  # marked unpublished again: the loop sends them

    async def _send(self, batch: list[ToPublish]) -> None:
        if not batch:
            return
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._sender, self._send_all, batch)
        except Exception:
            # Not sent: marked unpublished again, so the next round sends them.
            ids = [item.execution_id for item in batch]
            await self.ctx.db.write(lambda conn: publishing.forget_all(conn, ids))
            raise

    def _send_all(self, batch: list[ToPublish]) -> None:
        queue, send = self.setup.queue, self._messages.send
        with self.app.producer_or_acquire() as producer, _batched(producer):
            for item in batch:
                send(producer, item.execution_id, queue(item.route))
        self.published += len(batch)

    async def _take_over(self) -> None:
        await take_over_expired(self.ctx)


def _batched(producer: Any) -> contextlib.AbstractContextManager[object]:
    """kombu's publish batch (5.7 and later): on Redis, the batch's messages go in one
    pipeline, one round trip and one client instead of one of each per message (the client
    kombu makes per message cost more CPU than the rest of the send). Elsewhere, and with an
    older kombu, each message is sent at once, as before."""
    batch = getattr(producer, "batch", None)
    return batch() if batch is not None else contextlib.nullcontext()


class CeleryInspector:
    """The core's QueueInspector: the workers, asked through Celery's remote control."""

    def __init__(self, app: Any, setup: Publishing) -> None:
        self.app = app
        self.setup = setup

    def queue_of(self, route: str | None) -> str:
        return self.setup.queue(route)

    async def workers(self) -> list[dict[str, Any]]:
        views = await asyncio.to_thread(inspect_workers, self.app, self.setup.inspect_timeout)
        return [view.as_dict() for view in views]

    async def messages(self, queue: str) -> int | None:
        return await asyncio.to_thread(queue_depth(self.app), queue)
