"""A check's news reaches every outward channel: MQTT, webhooks (and the stream and metrics,
tested in test_checks.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import StartServer
from tests.integration.test_checks import deadline_at
from tests.integration.test_mqtt import mqtt_config
from tests.integration.test_webhooks import Receiver, hook
from tests.mqtt_support import MqttProbe, Received, prefix, require_broker
from tests.support import QUICK_CODE, create_task, py_task, unique


@pytest.fixture
def probe() -> Iterator[MqttProbe]:
    host, port = require_broker()
    client = MqttProbe(host, port)
    yield client
    client.close()


def test_a_missed_deadline_goes_out_on_mqtt_and_webhooks(
    start_server: StartServer, probe: MqttProbe
) -> None:
    host, port = require_broker()
    topics = prefix()
    server = start_server(mqtt_config(host, port, topics))
    receiver = Receiver()
    try:
        hook(server, url=receiver.url, statuses=["never_started"])
        probe.subscribe(f"{topics}/ex/#")
        label = unique("due")
        with server.client() as client:
            task = create_task(
                client,
                py_task(
                    f"Due {label}",
                    QUICK_CODE,
                    label=label,
                    checks={"deadline": deadline_at(2, "UTC")},
                ),
            )

        def missed(messages: list[Received]) -> Received | None:
            return next((m for m in messages if m.topic.endswith("/deadline_missed")), None)

        message = probe.wait_for(missed, what="the deadline_missed message")
        # The kind stands where the status goes; no execution ran, so its id is empty.
        assert message.topic == f"{topics}/ex/{task['id']}//deadline_missed"
        payload: dict[str, Any] = message.json()
        assert payload["kind"] == "deadline_missed"
        assert payload["status"] == "never_started"
        assert payload["check"]["why"] == "never_started"
        _, delivered = receiver.next()
        assert delivered["kind"] == "deadline_missed" and delivered["label"] == label
        assert delivered["message"] == payload["message"]
    finally:
        receiver.close()
