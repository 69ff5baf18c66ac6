"""The MQTT door's section: the broker, the start topic, the events published."""

from __future__ import annotations

import string
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from taskgate.config.base import Section
from taskgate.domain.status import Status


class MqttTls(Section):
    enabled: bool = Field(False, description="Connect to the broker over TLS.")
    ca_file: Path | None = Field(None, description="CA bundle; default: the system's.")
    cert_file: Path | None = Field(None, description="Client certificate (mutual TLS).")
    key_file: Path | None = Field(None, description="Key of cert_file.")
    insecure: bool = Field(False, description="Skip the broker host name check (testing only).")


class MqttStartSettings(Section):
    enabled: bool = Field(True, description="Start tasks from messages on `topic`.")
    topic: str = Field("qliksense/start_task", min_length=1, description="Butler's default.")
    reply_topic: str | None = Field(
        None, description="Where answers go when a message names no MQTT 5 response topic."
    )
    allowed_tasks: list[str] | None = Field(
        None, description="Ids, labels, tag:NAME, property:NAME=VALUE; None: every task."
    )
    batch_max: int = Field(500, ge=1, le=10000, description="Starts committed together at most.")
    final_reply: bool = Field(True, description="Also answer with each execution's end.")
    shared_group: str | None = Field(
        None,
        description="Several servers: subscribe as members of this MQTT 5 shared subscription "
        "($share/<group>/<topic>), so each start message goes to one of them (docs/deploy.md).",
    )

    @field_validator("topic")
    @classmethod
    def _no_wildcards(cls, topic: str) -> str:
        if "+" in topic or "#" in topic:
            raise ValueError("the start topic is one topic, without + or #")
        return topic

    @field_validator("shared_group")
    @classmethod
    def _group_name(cls, group: str | None) -> str | None:
        if group is not None and (not group or any(c in group for c in "/+#")):
            raise ValueError("a share name is not empty and has no /, + or #")
        return group

    @property
    def subscription(self) -> str:
        """What the door subscribes to: the topic, or its share in the group."""
        if self.shared_group is None:
            return self.topic
        return f"$share/{self.shared_group}/{self.topic}"


EVENT_TOPIC_FIELDS = ("task_id", "status", "execution_id", "origin")
DEFAULT_SESSION_EXPIRY = 86400


class MqttEventSettings(Section):
    enabled: bool = Field(True, description="Publish every state change.")
    topic: str = Field(
        "taskgate/executions/{task_id}/{status}",
        description=f"Fields: {', '.join(EVENT_TOPIC_FIELDS)}.",
    )
    statuses: list[str] | None = Field(None, description="Publish only these; None: all.")

    @field_validator("topic")
    @classmethod
    def _fields(cls, topic: str) -> str:
        for _, name, _, _ in string.Formatter().parse(topic):
            if name is not None and name not in EVENT_TOPIC_FIELDS:
                raise ValueError(
                    f"unknown field {{{name}}} (known: {', '.join(EVENT_TOPIC_FIELDS)})"
                )
        if "+" in topic or "#" in topic:
            raise ValueError("an event topic has no + or #")
        return topic

    @field_validator("statuses")
    @classmethod
    def _statuses(cls, statuses: list[str] | None) -> list[str] | None:
        known = {s.value for s in Status}
        for status in statuses or []:
            if status not in known:
                raise ValueError(f"unknown status {status!r}")
        return statuses


class MqttButlerTopics(Section):
    """Butler's failure and abort topics, with Butler's payloads."""

    enabled: bool = Field(True, description="Publish Butler's failure and abort topics.")
    task_failure_topic: str = Field("qliksense/task_failure", description="Butler's failure topic.")
    task_failure_full_topic: str = Field(
        "qliksense/task_failure_full", description="Butler's failure topic with the full payload."
    )
    task_aborted_topic: str = Field("qliksense/task_aborted", description="Butler's abort topic.")
    task_aborted_full_topic: str = Field(
        "qliksense/task_aborted_full", description="Butler's abort topic with the full payload."
    )
    task_failure_send_full: bool = Field(True, description="Also publish the full failure payload.")
    task_aborted_send_full: bool = Field(True, description="Also publish the full abort payload.")


class MqttSettings(Section):
    enabled: bool = Field(
        False, description="Connect to the broker (docs/mqtt.md); needs the mqtt extra."
    )
    host: str = Field("127.0.0.1", description="The broker.")
    port: int = Field(1883, ge=1, le=65535, description="Its port.")
    tls: MqttTls = Field(default_factory=MqttTls, description="TLS to the broker.")
    username: str | None = Field(None, description="Broker user name.")
    password: str | None = Field(None, description="Broker password.")
    client_id: str | None = Field(None, description="Default: taskgate-<node_name>.")
    keepalive: int = Field(60, ge=5, le=65535, description="Seconds.")
    clean_start: bool = Field(False, description="False: a persistent session.")
    session_expiry_seconds: int | None = Field(
        None,
        ge=0,
        description="How long the broker keeps the session while disconnected (with "
        "start.shared_group, none by default: the broker then hands the share's messages to "
        "the members that are connected).",
        json_schema_extra={"default_doc": "86400; 0 with start.shared_group"},
    )
    qos: Literal[0, 1] = Field(1, description="For the subscription and everything published.")
    receive_maximum: int = Field(
        1000, ge=1, le=65535, description="Unacknowledged start messages the broker may send."
    )
    max_queued_publishes: int = Field(
        100_000, ge=0, description="Outgoing messages kept while disconnected; 0: no limit."
    )
    # A broker that restarts is back within seconds, and while taskgate is away the broker
    # queues its start messages only up to its own limit: come back at once, then often.
    reconnect_min_seconds: float = Field(
        0.2, gt=0, le=60, description="First wait before connecting again (jittered)."
    )
    reconnect_max_seconds: float = Field(
        2.0, gt=0, le=300, description="Longest wait between tries (jittered)."
    )
    start: MqttStartSettings = Field(
        default_factory=MqttStartSettings, description="The start topic."
    )

    @property
    def session_expiry(self) -> int:
        """Seconds the broker keeps the session. A member of a shared subscription keeps none
        by default: Mosquitto 2 goes on queuing a share of the group's messages for a member
        whose session it keeps, and delivers them only when that member is back."""
        if self.session_expiry_seconds is not None:
            return self.session_expiry_seconds
        return 0 if self.start.shared_group is not None else DEFAULT_SESSION_EXPIRY

    events: MqttEventSettings = Field(
        default_factory=MqttEventSettings, description="State events published."
    )
    butler: MqttButlerTopics = Field(
        default_factory=MqttButlerTopics, description="Butler's failure and abort topics."
    )
