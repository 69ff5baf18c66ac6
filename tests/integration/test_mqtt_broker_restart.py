"""A broker configured as docs/mqtt.md says, restarted in the middle of 2,000 keyed QoS 1
starts, with taskgate's default reconnect settings: exactly 2,000 executions, and the metrics
count the reconnect and how long the link was down (issue 20).

The test runs its own Mosquitto (tests/mqtt_support.py PrivateBroker: persistence on,
`max_queued_messages 0`), so it can stop and start it without disturbing the shared one.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import mqtt_support
from tests.conftest import StartServer
from tests.mqtt_support import MqttProbe, PrivateBroker

MESSAGES = 2000


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[PrivateBroker]:
    with PrivateBroker(tmp_path / "mosquitto") as private:
        yield private


def metric(text: str, name: str) -> float:
    found = re.search(rf'^{name}{{name="mqtt"}} (\S+)$', text, re.MULTILINE)
    assert found is not None, f"{name} not in /metrics"
    return float(found.group(1))


@pytest.mark.timeout(180)
def test_a_broker_restart_in_a_burst_loses_nothing_with_the_defaults(
    start_server: StartServer, broker: PrivateBroker
) -> None:
    topic = f"restart/{uuid.uuid4().hex[:8]}/start"
    task = mqtt_support.burst_task("Restart burst task")
    mqtt = {
        "enabled": True,
        "port": broker.port,
        "client_id": f"taskgate-{uuid.uuid4().hex[:8]}",
        "start": {"topic": topic},
        "events": {"enabled": False},
    }  # no reconnect settings: the shipped defaults
    server = start_server({"mqtt": mqtt}, tasks=[task])
    publisher = MqttProbe("127.0.0.1", broker.port, client_id=f"pub-{topic}", persistent=True)
    try:
        mqtt_support.publish_burst(publisher, topic, MESSAGES, "m", restart_midway=broker)
        with httpx.Client(base_url=server.url, timeout=60) as http:
            items = mqtt_support.wait_for_burst(http, MESSAGES, timeout=120)
            metrics = http.get("/metrics").text
    finally:
        publisher.close()
    mqtt_support.assert_one_each(items, MESSAGES)
    assert metric(metrics, "taskgate_connection_reconnects") == 1
    assert metric(metrics, "taskgate_connection_last_outage_seconds") > 0
    assert "reconnects 1, after" in server.log_text()
