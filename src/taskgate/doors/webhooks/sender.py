"""Turns bus events into recorded deliveries, and sends the deliveries that are due.

Recording happens off the bus (a listener only queues the event), so a slow receiver never
slows an execution; sending claims due deliveries from the database, so retries survive a
restart and several processes share the work. A Celery worker only records (the deliveries
of the events it makes); the API nodes send them. With several processes on one database
(`shared`), each reads the subscriptions again every RELOAD_SECONDS: one made on another node
is matched here within that time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from datetime import timedelta
from typing import TYPE_CHECKING

from taskgate import __version__
from taskgate.core.background import stop_task
from taskgate.core.clock import utcnow
from taskgate.core.events import EventBus
from taskgate.core.webhooks import DueDelivery, WebhookService
from taskgate.domain.events import ExecutionEvent
from taskgate.domain.webhooks import SIGNATURE_HEADER, signature

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)
BATCH = 20
# Changes made by another process (a redelivery asked there) are seen within this time.
RECHECK_SECONDS = 5.0
QUEUE_LIMIT = 100_000
RELOAD_SECONDS = 5.0
# At stop, the events still waiting to be recorded get this long (a run that just ended).
STOP_RECORD_SECONDS = 5.0


class WebhookSender:
    def __init__(
        self,
        service: WebhookService,
        bus: EventBus,
        timeout_seconds: float,
        *,
        shared: bool = False,
    ) -> None:
        self.service = service
        self.timeout = timeout_seconds
        self.shared = shared
        self._events: asyncio.Queue[ExecutionEvent] = asyncio.Queue(QUEUE_LIMIT)
        self._tasks: list[asyncio.Task[None]] = []
        self._client: httpx.AsyncClient | None = None
        bus.listen(self._on_event)

    def _on_event(self, event: ExecutionEvent) -> None:
        if not self.service.subscribed():
            return
        if self._events.full():
            log.error("webhooks: %d events waiting to be recorded; dropping one", QUEUE_LIMIT)
            self._events.get_nowait()
        self._events.put_nowait(event)

    async def start(self, *, send: bool = True) -> None:
        """Record the deliveries of this process's events; and send due ones unless `send`
        is False (a worker: its network may not reach the receivers, the API nodes' does)."""
        self._tasks = [asyncio.create_task(self._record_loop(), name="webhooks-record")]
        if send:
            self._tasks.append(asyncio.create_task(self._send_loop(), name="webhooks-send"))
        if self.shared:
            self._tasks.append(asyncio.create_task(self._reload_loop(), name="webhooks-reload"))

    async def stop(self) -> None:
        for task in self._tasks:
            await stop_task(task)
        self._tasks = []
        # The last events (the runs ended as the process stops) still owe their deliveries.
        waiting = [self._events.get_nowait() for _ in range(self._events.qsize())]
        if waiting:
            try:
                await asyncio.wait_for(self.service.enqueue(waiting), STOP_RECORD_SECONDS)
            except Exception as exc:
                log.warning("webhooks: %d events not recorded at stop: %s", len(waiting), exc)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _record_loop(self) -> None:
        while True:
            batch = [await self._events.get()]
            while not self._events.empty() and len(batch) < 500:
                batch.append(self._events.get_nowait())
            try:
                await self.service.enqueue(batch)
            except Exception:
                log.exception("webhooks: could not record %d deliveries", len(batch))

    async def _reload_loop(self) -> None:
        while True:
            await asyncio.sleep(RELOAD_SECONDS)
            try:
                await self.service.load()
            except Exception as exc:
                log.warning("webhooks: subscriptions not read again: %s", exc)

    async def _send_loop(self) -> None:
        lease = timedelta(seconds=self.timeout * 2 + 5)
        while True:
            self.service.due.clear()
            delay = RECHECK_SECONDS
            try:
                claimed = await self.service.claim(BATCH, lease)
                if claimed:
                    await asyncio.gather(*(self._send(due) for due in claimed))
                    continue
                next_due = await self.service.next_due()
                if next_due is not None:
                    delay = min(delay, max(0.01, (next_due - utcnow()).total_seconds()))
            except Exception:
                log.exception("webhooks: sending failed; trying again in %gs", delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.service.due.wait(), delay)

    def _http(self) -> httpx.AsyncClient:
        """The HTTP client, made for the first delivery (most servers never send one)."""
        if self._client is None:
            import httpx  # on first use: ~4.5 MiB that an idle server does not need

            self._client = httpx.AsyncClient(
                timeout=self.timeout, headers={"User-Agent": f"taskgate/{__version__}"}
            )
        return self._client

    async def _send(self, due: DueDelivery) -> None:
        import httpx  # loaded by `_http()` already; named here for its error class

        client = self._http()
        body = json.dumps(due.payload, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(due.webhook.secret, int(time.time()), body),
            "X-Taskgate-Delivery": str(due.id),
            "X-Taskgate-Webhook": due.webhook.id,
        }
        try:
            answer = await client.post(due.webhook.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            await self.service.record(due, None, str(exc) or type(exc).__name__)
            return
        ok = 200 <= answer.status_code < 300
        error = "" if ok else f"HTTP {answer.status_code}: {answer.text[:200]}"
        await self.service.record(due, answer.status_code, error)
