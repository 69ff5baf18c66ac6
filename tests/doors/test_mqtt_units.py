"""The MQTT door's pure parts: settings, start payloads, event topics, Butler payloads."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from taskgate.config import load_settings
from taskgate.domain.errors import ConfigError, InvalidInput
from taskgate.domain.events import ExecutionEvent
from taskgate.domain.selectors import MAX_SELECTORS, SelectorKind
from taskgate.domain.status import Status
from taskgate.doors.mqtt.events import butler_full_payload, event_topic
from taskgate.doors.mqtt.payloads import parse_start


def settings_from(tmp_path: Path, text: str) -> object:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return load_settings(path)


def test_mqtt_defaults_follow_butler_and_a_persistent_session(tmp_path: Path) -> None:
    settings = load_settings(None)
    mqtt = settings.mqtt
    assert mqtt.enabled is False and mqtt.port == 1883 and mqtt.qos == 1
    assert mqtt.clean_start is False and mqtt.session_expiry > 0
    assert mqtt.start.topic == "qliksense/start_task"
    assert mqtt.butler.task_failure_full_topic == "qliksense/task_failure_full"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("mqtt: {start: {topic: 'a/#'}}", "mqtt.start.topic"),
        ("mqtt: {events: {topic: 'x/{task_name}'}}", "mqtt.events.topic"),
        ("mqtt: {events: {statuses: [done]}}", "mqtt.events.statuses"),
        ("mqtt: {qos: 2}", "mqtt.qos"),
        ("mqtt: {port: 0}", "mqtt.port"),
        ("mqtt: {brokerHost: x}", "mqtt.brokerHost"),
        ("mqtt: {start: {shared_group: 'a/b'}}", "mqtt.start.shared_group"),
        ("mqtt: {start: {shared_group: ''}}", "mqtt.start.shared_group"),
    ],
)
def test_bad_mqtt_settings_name_the_key(tmp_path: Path, text: str, where: str) -> None:
    with pytest.raises(ConfigError) as error:
        settings_from(tmp_path, text)
    assert error.value.field == where


def test_a_shared_group_subscribes_to_its_share_without_a_kept_session(tmp_path: Path) -> None:
    shared = settings_from(tmp_path, "mqtt: {start: {topic: a/start, shared_group: nodes}}")
    assert shared.mqtt.start.subscription == "$share/nodes/a/start"  # type: ignore[attr-defined]
    assert shared.mqtt.session_expiry == 0  # type: ignore[attr-defined]
    kept = settings_from(
        tmp_path, "mqtt: {session_expiry_seconds: 60, start: {shared_group: nodes}}"
    )
    assert kept.mqtt.session_expiry == 60  # type: ignore[attr-defined]
    alone = settings_from(tmp_path, "mqtt: {start: {topic: a/start}}")
    assert alone.mqtt.start.subscription == "a/start"  # type: ignore[attr-defined]
    assert alone.mqtt.session_expiry == 86400  # type: ignore[attr-defined]


def test_plain_payloads_are_one_selector() -> None:
    by_id = parse_start(b"0B7B1C50-6A47-4D63-9A55-6F0B6C1A0001\n")
    assert [s.kind for s in by_id.selectors] == [SelectorKind.AUTO]
    assert by_id.idempotency_key is None
    assert str(parse_start(b"tag:finance").selectors[0]) == "tag:finance"


def test_json_payloads() -> None:
    parsed = parse_start(
        b'{"tasks": ["nightly", "tag:x"], "params": {"a": 1}, "idempotency_key": "k",'
        b' "correlation_id": 7, "all_must_exist": true}'
    )
    assert len(parsed.selectors) == 2 and parsed.params == {"a": 1}
    assert parsed.idempotency_key == "k" and parsed.correlation_id == 7
    assert parsed.all_must_exist is True


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (b"", "payload"),
        (b"\xff", "payload"),
        (b"{", "payload"),
        (b'{"tasks": []}', "tasks"),
        (b'{"tasks": ["a"], "params": []}', "params"),
        (b'{"tasks": ["a"], "idempotency_key": "' + b"k" * 201 + b'"}', "idempotency_key"),
        (b'{"tasks": ["a"], "x": 1}', "x"),
        (b'{"tasks": [" "]}', "selectors"),
        (b"x" * (256 * 1024 + 1), "payload"),
    ],
)
def test_bad_payloads_name_the_field(payload: bytes, field: str) -> None:
    with pytest.raises(InvalidInput) as error:
        parse_start(payload)
    assert error.value.field == field


def event(status: Status) -> ExecutionEvent:
    return ExecutionEvent(
        execution_id="e1",
        task_id="t1",
        task_name="Nightly",
        status=status,
        at=datetime(2026, 11, 22, 9, 50, 1, 123456, tzinfo=UTC),
        origin="mqtt",
        tags=("finance",),
        exit_code=3,
    )


def test_event_topic_fields() -> None:
    template = "p/{origin}/{task_id}/{execution_id}/{status}"
    assert event_topic(template, event(Status.FINISHED_FAIL)) == "p/mqtt/t1/e1/finished_fail"


def test_butler_full_payloads() -> None:
    failed = butler_full_payload(event(Status.FINISHED_FAIL), "node1", aborted=False)
    assert failed["taskName"] == "Nightly" and failed["executionId"] == "e1"
    assert failed["logTimeStamp"] == "2026-11-22 09:50:01,123"
    assert failed["logLevel"] == "ERROR" and failed["qs_taskTags"] == ["finance"]
    assert failed["qs_taskMetadata"]["exit_code"] == 3
    assert "qs_appMetadata" not in failed
    aborted = butler_full_payload(event(Status.ABORTED), "node1", aborted=True)
    assert aborted["logLevel"] == "WARN" and aborted["qs_appMetadata"] == {}


def test_a_start_message_names_at_most_the_selector_limit() -> None:
    assert len(parse_start(json.dumps({"tasks": ["quick"] * MAX_SELECTORS}).encode()).selectors)
    with pytest.raises(InvalidInput) as refused:
        parse_start(json.dumps({"tasks": ["quick"] * (MAX_SELECTORS + 1)}).encode())
    assert refused.value.field == "tasks"
