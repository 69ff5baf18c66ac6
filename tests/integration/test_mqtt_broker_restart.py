"""A broker configured as docs/mqtt.md says, restarted in the middle of 2,000 keyed QoS 1
starts, with taskgate's default reconnect settings: exactly 2,000 executions, and the metrics
count the reconnect and how long the link was down (issue 20).

The test runs its own Mosquitto (tests/mqtt_support.py PrivateBroker: persistence on,
`max_queued_messages 0`), so it can stop and start it without disturbing the shared one.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import StartServer
from tests.mqtt_support import MqttProbe, PrivateBroker
from tests.support import SLOW_CODE, list_executions, py_task, wait_until

MESSAGES = 2000


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[PrivateBroker]:
    private = PrivateBroker(tmp_path / "mosquitto")
    private.start()
    yield private
    private.stop()


def metric(text: str, name: str) -> float:
    found = re.search(rf'^{name}{{name="mqtt"}} (\S+)$', text, re.MULTILINE)
    assert found is not None, f"{name} not in /metrics"
    return float(found.group(1))


@pytest.mark.timeout(180)
def test_a_broker_restart_in_a_burst_loses_nothing_with_the_defaults(
    start_server: StartServer, broker: PrivateBroker
) -> None:
    topic = f"restart/{uuid.uuid4().hex[:8]}/start"
    # One execution runs (slow) and every later start is stored as skipped: each message
    # becomes one execution without 2,000 processes.
    task = py_task(
        "Restart burst task",
        SLOW_CODE,
        label="burst",
        concurrency={"max_running": 1, "overlap": "skip"},
        params=[{"name": "n", "type": "int", "required": True}],
    )
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
        infos = []
        for n in range(MESSAGES):
            body = {"tasks": ["label:burst"], "params": {"n": n}, "idempotency_key": f"m{n}"}
            infos.append(publisher.publish(topic, json.dumps(body), wait=False))
            if n == MESSAGES // 2:
                infos[MESSAGES // 4].wait_for_publish(30)
                broker.stop()
                broker.start()
        with httpx.Client(base_url=server.url, timeout=60) as http:

            def stored() -> list[dict[str, Any]] | None:
                items = list_executions(http, origin="mqtt", limit=1000)
                return items if len(items) >= MESSAGES else None

            items = wait_until(stored, timeout=120, interval=0.5, what=f"{MESSAGES} executions")
            metrics = http.get("/metrics").text
    finally:
        publisher.close()
    numbers = sorted(int(item["params"]["n"]) for item in items)
    assert numbers == list(range(MESSAGES)), "a message has no execution or more than one"
    assert metric(metrics, "taskgate_connection_reconnects") == 1
    assert metric(metrics, "taskgate_connection_last_outage_seconds") > 0
    assert "reconnects 1, after" in server.log_text()
