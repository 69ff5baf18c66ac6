"""Answers to start messages: the start outcome now, each execution's end later."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from taskgate.core.starts.request import StartResult
from taskgate.domain.errors import TaskgateError
from taskgate.domain.events import ExecutionEvent
from taskgate.doors.mqtt.connection import MqttConnection

MAX_AWAITING = 100_000


@dataclass(frozen=True)
class ReplyTo:
    topic: str
    correlation_data: bytes | None = None
    correlation_id: str | int | None = None


class Replies:
    def __init__(self, connection: MqttConnection) -> None:
        self._connection = connection
        self._awaiting: dict[str, ReplyTo] = {}

    def started(self, reply: ReplyTo, result: StartResult) -> None:
        self._send(reply, {"type": "start", "ok": True, **result.model_dump(mode="json")})

    def refused(self, reply: ReplyTo, error: TaskgateError) -> None:
        self._send(reply, {"type": "start", "ok": False, **error.to_dict()})

    def expect_end(self, reply: ReplyTo, result: StartResult) -> None:
        for ref in result.executions:
            if ref.status.is_terminal:
                continue  # skipped at once: the start answer already says so
            self._awaiting[ref.id] = reply
        # A replayed start (idempotency key) may name executions that ended long ago and
        # will never send another event: forget the oldest waits beyond a bound.
        while len(self._awaiting) > MAX_AWAITING:
            del self._awaiting[next(iter(self._awaiting))]

    def awaiting(self) -> list[str]:
        """The executions whose end is still to be answered."""
        return list(self._awaiting)

    def on_event(self, event: ExecutionEvent) -> None:
        if not (event.is_status and event.status.is_terminal):
            return
        reply = self._awaiting.pop(event.execution_id, None)
        if reply is not None:
            self._send(reply, {"type": "end", "execution": event.to_payload()})

    def _send(self, reply: ReplyTo, body: dict[str, Any]) -> None:
        if reply.correlation_id is not None:
            body["correlation_id"] = reply.correlation_id
        properties = None
        if reply.correlation_data is not None:
            properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            properties.CorrelationData = reply.correlation_data
        self._connection.publish(reply.topic, json.dumps(body), properties=properties)
