"""The MQTT door, assembled: connection, start consumer, event publisher."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from taskgate.config.mqtt import MqttSettings
from taskgate.core.connections import ConnectionState
from taskgate.core.services import Services
from taskgate.domain.allowlist import allow_entry
from taskgate.doors.mqtt.connection import Incoming, MqttConnection
from taskgate.doors.mqtt.events import EventPublisher
from taskgate.doors.mqtt.replies import Replies
from taskgate.doors.mqtt.starts import StartConsumer

log = logging.getLogger("taskgate.mqtt")


class MqttDoor:
    def __init__(self, services: Services, settings: MqttSettings, node_name: str) -> None:
        self._services = services
        self._settings = settings
        client_id = settings.client_id or f"taskgate-{node_name}"
        subscriptions = [settings.start.subscription] if settings.start.enabled else []
        self.connection = MqttConnection(settings, client_id, subscriptions, self._on_message)
        self._replies = Replies(self.connection)
        allowed = settings.start.allowed_tasks
        self.starts = StartConsumer(
            services.starts,
            self.connection,
            self._replies,
            settings.start,
            frozenset(allow_entry(e) for e in allowed) if allowed is not None else None,
        )
        self._events = EventPublisher(self.connection, settings.events, settings.butler, node_name)
        self._tasks: list[asyncio.Task[None]] = []
        self._catching_up: set[asyncio.Task[None]] = set()

    def register(self, services: Services) -> None:
        services.readiness["mqtt"] = self.readiness
        services.connections["mqtt"] = self.connection.state
        services.ctx.bus.on_gap(self._on_gap)

    @property
    def state(self) -> ConnectionState:
        return self.connection.state

    def readiness(self) -> tuple[bool, str]:
        state = self.connection.state
        if state.connected:
            return True, "connected"
        return False, state.last_error or "connecting"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        subscribed = asyncio.Event()
        self._tasks = [
            loop.create_task(self._forward_events(subscribed), name="mqtt-events"),
            loop.create_task(self.starts.run(), name="mqtt-starts"),
        ]
        await subscribed.wait()
        await self.connection.start()

    async def stop(self) -> None:
        for task in [*self._catching_up]:
            task.cancel()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.connection.stop()

    def _on_message(self, message: Incoming) -> None:
        if message.topic == self._settings.start.topic:
            self.starts.submit(message)

    def _on_gap(self) -> None:
        # Ends of other servers' runs may have gone by unheard: answer them from the store.
        task = asyncio.get_running_loop().create_task(self._answer_missed_ends())
        self._catching_up.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._catching_up.discard)

    async def _answer_missed_ends(self) -> None:
        for execution_id in self._replies.awaiting():
            try:
                event = await self._services.executions.end_event(execution_id)
            except Exception:
                log.exception("MQTT: end of %s not looked up", execution_id)
                continue
            if event is not None:
                self._replies.on_event(event)

    async def _forward_events(self, subscribed: asyncio.Event) -> None:
        # One subscriber, one queue: events leave in the order the bus got them, which is
        # the order of each execution's changes.
        async with self._services.ctx.bus.subscribe() as events:
            subscribed.set()
            missed = 0
            while True:
                event = await events.get()
                if events.missed != missed:
                    # Fell so far behind that some events are gone: their ends from the store.
                    missed = events.missed
                    self._on_gap()
                try:
                    # The answer to a start goes from the server that took the start, wherever
                    # it ran; a state event from the server that made it (once per cluster).
                    self._replies.on_event(event)
                    if not event.remote:
                        self._events.publish(event)
                except Exception:
                    log.exception("MQTT event %s not published", event.status.value)
