"""Every state change out to MQTT: taskgate's topics and Butler's failure and abort topics."""

from __future__ import annotations

import json
from typing import Any

from taskgate.config.mqtt import MqttButlerTopics, MqttEventSettings
from taskgate.domain.events import EventFilter, ExecutionEvent
from taskgate.domain.status import Status, butler_kind
from taskgate.doors.mqtt.connection import MqttConnection


def event_topic(template: str, event: ExecutionEvent) -> str:
    # A check's news goes where its kind stands in for the status (…/deadline_missed), so a
    # subscriber to a status never reads it as a second change to that status.
    return template.format(
        task_id=event.task_id,
        status=event.status.value if event.is_status else event.kind,
        execution_id=event.execution_id,
        origin=event.origin or "unknown",
    )


def butler_full_payload(event: ExecutionEvent, host: str, aborted: bool) -> dict[str, Any]:
    """Butler's `task_failure_full` / `task_aborted_full` fields, filled from the event.

    Qlik-only fields (app, app tags and properties) are empty; `qs_taskMetadata` carries
    taskgate's own event payload.
    """
    body: dict[str, Any] = {
        "hostName": host,
        "user": f"taskgate/{event.origin or 'unknown'}",
        "taskName": event.task_name,
        "taskId": event.task_id,
        "appName": "",
        "appId": "",
        "logTimeStamp": event.at.strftime("%Y-%m-%d %H:%M:%S,%f")[:-3],
        "logLevel": "WARN" if aborted else "ERROR",
        "executionId": event.execution_id,
        "logMessage": event.message,
        "qs_appTags": [],
        "qs_appCustomProperties": [],
        "qs_taskTags": list(event.tags),
        "qs_taskCustomProperties": [],
        "qs_taskMetadata": event.to_payload(),
    }
    if aborted:
        body["qs_appMetadata"] = {}
    return body


class EventPublisher:
    def __init__(
        self,
        connection: MqttConnection,
        events: MqttEventSettings,
        butler: MqttButlerTopics,
        host: str,
    ) -> None:
        self._connection = connection
        self._events = events
        self._butler = butler
        self._host = host
        self._wanted = EventFilter.of(statuses=(Status(s) for s in events.statuses or ()))

    def publish(self, event: ExecutionEvent) -> None:
        if self._events.enabled and self._wanted.matches(event):
            self._connection.publish(
                event_topic(self._events.topic, event), json.dumps(event.to_payload())
            )
        if self._butler.enabled and event.is_status:
            self._publish_butler(event)

    def _publish_butler(self, event: ExecutionEvent) -> None:
        b = self._butler
        # Butler reports what Qlik Sense reports: a run stopped by its timeout was aborted.
        kind = butler_kind(event.status, event.end_reason)
        if kind == "failure":
            self._connection.publish(b.task_failure_topic, event.task_name)
            if b.task_failure_send_full:
                body = butler_full_payload(event, self._host, aborted=False)
                self._connection.publish(b.task_failure_full_topic, json.dumps(body))
        elif kind == "aborted":
            self._connection.publish(b.task_aborted_topic, event.task_name)
            if b.task_aborted_send_full:
                body = butler_full_payload(event, self._host, aborted=True)
                self._connection.publish(b.task_aborted_full_topic, json.dumps(body))
