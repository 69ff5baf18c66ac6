"""Start messages in, starts out: parsed here, committed by the core in batches.

Messages are taken off the queue in batches (whatever arrived while the last batch was
being committed, up to `batch_max`) and committed by `StartService.start_many` in one
transaction. Each message is acknowledged to the broker only after that commit, so a crash
in between leaves it unacknowledged and the broker delivers it again.

A start the queue's bound refuses (`QueueFull`: too many executions waiting to run) is held,
not acknowledged and not answered: while anything is held no new message is taken, and the
held ones are committed again, in their order, when an execution leaves the queue (or after
the refusal's Retry-After). Unacknowledged, they fill the broker's window
(`mqtt.receive_maximum`) and the broker stops sending: that is the backpressure. A held
message whose connection ended is dropped if the broker kept the session (it delivers it
again) and kept otherwise, so it is neither lost nor started twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from taskgate.config.mqtt import MqttStartSettings
from taskgate.core.starts.request import StartRequest, StartResult
from taskgate.core.starts.service import StartService
from taskgate.domain.backoff import backoff_delay
from taskgate.domain.errors import QueueFull, TaskgateError
from taskgate.domain.events import ExecutionEvent
from taskgate.domain.executions import Caller
from taskgate.domain.status import PENDING
from taskgate.doors.mqtt.connection import Incoming, MqttConnection
from taskgate.doors.mqtt.payloads import StartMessage, parse_start
from taskgate.doors.mqtt.replies import Replies, ReplyTo

log = logging.getLogger("taskgate.mqtt")
ORIGIN = "mqtt"
SCOPE = "mqtt"
# While the database is away, commits are tried again after 0.5 s, 1 s, 2 s … then every 10 s.
COMMIT_RETRY_FIRST_SECONDS = 0.5
COMMIT_RETRY_LONGEST_SECONDS = 10.0


@dataclass(frozen=True)
class _Accepted:
    message: Incoming
    parsed: StartMessage
    reply: ReplyTo | None


class StartConsumer:
    def __init__(
        self,
        starts: StartService,
        connection: MqttConnection,
        replies: Replies,
        settings: MqttStartSettings,
        allowed_tasks: frozenset[str] | None,
    ) -> None:
        self._starts = starts
        self._connection = connection
        self._replies = replies
        self._settings = settings
        self._allowed = allowed_tasks
        self._queue: asyncio.Queue[Incoming] = asyncio.Queue()
        self.committed = 0
        # Refused by the queue's bound, in arrival order; `_room` is set when one may fit.
        self._held: list[_Accepted] = []
        self._hold_seconds = 1.0
        self._room = asyncio.Event()
        starts.ctx.bus.listen(self._on_event)

    @property
    def held(self) -> int:
        return len(self._held)

    def _on_event(self, event: ExecutionEvent) -> None:
        if self._held and event.is_status and event.status not in PENDING:
            self._room.set()

    def submit(self, message: Incoming) -> None:
        self._queue.put_nowait(message)

    async def run(self) -> None:
        while True:
            if self._held:
                await self._retry_held()
                continue
            batch = [await self._queue.get()]
            while len(batch) < self._settings.batch_max and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            await self._handle(batch)

    def _caller(self, message: Incoming) -> Caller:
        # MQTT does not say who published; a publisher may name itself in a user property.
        client = message.user_properties.get("client")
        name = f"{ORIGIN}:{client}" if client else ORIGIN
        return Caller(name, scope=SCOPE, allowed_tasks=self._allowed)

    def _reply_to(self, message: Incoming, correlation_id: str | int | None) -> ReplyTo | None:
        topic = message.response_topic or self._settings.reply_topic
        if not topic:
            return None
        return ReplyTo(topic, message.correlation_data, correlation_id)

    async def _handle(self, batch: list[Incoming]) -> None:
        again = sum(1 for m in batch if m.redelivered)
        if again:
            log.info("MQTT: %d start message(s) delivered again after a reconnect", again)
        accepted: list[_Accepted] = []
        for message in batch:
            try:
                parsed = parse_start(message.payload)
            except TaskgateError as exc:
                log.warning("MQTT start message on %s refused: %s", message.topic, exc.message)
                reply = self._reply_to(message, None)
                if reply is not None:
                    self._replies.refused(reply, exc)
                self._connection.ack(message)
                continue
            accepted.append(
                _Accepted(message, parsed, self._reply_to(message, parsed.correlation_id))
            )
        await self._start(accepted)

    async def _retry_held(self) -> None:
        """Wait for room (or the Retry-After), then commit the held messages again."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._room.wait(), self._hold_seconds)
        self._room.clear()
        held, self._held = self._held, []
        kept: list[_Accepted] = []
        for item in held:
            again = self._connection.delivered_again(item.message)
            if again is None:
                self._held.append(item)  # not connected: not known yet whether it comes again
            elif not again:
                kept.append(item)
        if not kept and self._held:
            await asyncio.sleep(self._hold_seconds)
        # Held first, in their order: a refusal puts them back at the front.
        waiting, self._held = self._held, []
        await self._start(kept)
        self._held += waiting

    async def _start(self, accepted: list[_Accepted]) -> None:
        if not accepted:
            return
        requests = [
            StartRequest(
                selectors=a.parsed.selectors,
                origin=ORIGIN,
                caller=self._caller(a.message),
                params=a.parsed.params,
                all_must_exist=a.parsed.all_must_exist,
                idempotency_key=a.parsed.idempotency_key,
            )
            for a in accepted
        ]
        answers = await self._commit(requests)
        for item, answer in zip(accepted, answers, strict=True):
            if isinstance(answer, QueueFull):
                # No PUBACK until there is room; answered once it is started.
                self._held.append(item)
                self._hold_seconds = float(answer.retry_after)
                continue
            self._connection.ack(item.message)
            if isinstance(answer, StartResult):
                self.committed += 1
                if item.reply is not None:
                    self._replies.started(item.reply, answer)
                    if self._settings.final_reply:
                        self._replies.expect_end(item.reply, answer)
            else:
                log.warning("MQTT start on %s refused: %s", item.message.topic, answer.message)
                if item.reply is not None:
                    self._replies.refused(item.reply, answer)

    async def _commit(self, requests: list[StartRequest]) -> list[StartResult | TaskgateError]:
        """Commit, retrying while the database fails: the messages stay unacknowledged."""
        failures = 0
        while True:
            try:
                return await self._starts.start_many(requests)
            except Exception:
                failures += 1
                delay = backoff_delay(
                    failures, first=COMMIT_RETRY_FIRST_SECONDS, longest=COMMIT_RETRY_LONGEST_SECONDS
                )
                log.exception("MQTT starts could not be committed; retrying in %.1f s", delay)
                await asyncio.sleep(delay)
