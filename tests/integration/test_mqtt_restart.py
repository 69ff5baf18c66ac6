"""Bursts of start messages while the broker restarts, or taskgate crashes: every message ends
as exactly one execution.

These tests run their own Mosquitto (own port, persistence in a temp folder), so it can stop
and start the broker without disturbing anyone using the shared one.
"""

from __future__ import annotations

import contextlib
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.conftest import ServerProcess, StartServer
from tests.mqtt_support import (
    MqttProbe,
    PrivateBroker,
    assert_one_each,
    burst_task,
    publish_burst,
    wait_for_burst,
)

MESSAGES = 5000


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[PrivateBroker]:
    with PrivateBroker(tmp_path / "mosquitto") as private:
        yield private


@pytest.mark.timeout(400)
def test_burst_with_broker_restart_starts_each_message_once(
    start_server: StartServer, broker: PrivateBroker
) -> None:
    topic = f"burst/{uuid.uuid4().hex[:8]}/start"
    task = burst_task("Burst task")
    server = start_server(
        {
            "mqtt": {
                "enabled": True,
                "port": broker.port,
                "client_id": "taskgate-burst",
                "reconnect_min_seconds": 1,
                "reconnect_max_seconds": 2,
                "start": {"topic": topic},
                "events": {"enabled": False},
            }
        },
        tasks=[task],
    )
    publisher = MqttProbe("127.0.0.1", broker.port, client_id="burst-pub", persistent=True)
    try:
        publish_burst(publisher, topic, MESSAGES, "m", restart_midway=broker)
        # The publisher resends what the broker had not acknowledged once it is back, so it
        # stays connected until the server has stored everything.
        with httpx.Client(base_url=server.url, timeout=60) as http:
            items = wait_for_burst(http, MESSAGES, timeout=180)
    finally:
        publisher.close()
    assert_one_each(items, MESSAGES)
    log = server.log_text()
    # The broker kept taskgate's session across its restart (what was not acknowledged is
    # delivered again).
    assert "MQTT disconnected" in log, log[-3000:]
    assert "session present True, reconnects 1" in log, log[-3000:]


@contextlib.contextmanager
def writes_blocked(server: ServerProcess) -> Iterator[None]:
    """Hold the database's write lock, so the server can receive but not commit."""
    url = server.config.get("database_url")
    if url is None:
        db = sqlite3.connect(Path(server.config["data_dir"]) / "taskgate.db", isolation_level=None)
        db.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            db.execute("ROLLBACK")
            db.close()
        return
    with psycopg.connect(url) as pg:
        pg.execute("LOCK TABLE executions IN ACCESS EXCLUSIVE MODE")
        try:
            yield
        finally:
            pg.rollback()


@pytest.mark.timeout(400)
def test_taskgate_killed_before_committing_gets_the_messages_again(
    start_server: StartServer, broker: PrivateBroker
) -> None:
    count = 2000
    topic = f"crash/{uuid.uuid4().hex[:8]}/start"
    task = burst_task("Crash burst task")
    server = start_server(
        {
            "mqtt": {
                "enabled": True,
                "port": broker.port,
                "client_id": "taskgate-crash",
                "start": {"topic": topic},
                "events": {"enabled": False},
            }
        },
        tasks=[task],
    )
    publisher = MqttProbe("127.0.0.1", broker.port, client_id="crash-pub", persistent=True)
    try:
        with writes_blocked(server):
            for info in publish_burst(publisher, topic, count, "c"):
                info.wait_for_publish(30)
            # The broker has every message and has sent taskgate as many as its receive
            # maximum allows; none can be committed, so none is acknowledged. Now it dies.
            server.kill()
        server.restart()
        with httpx.Client(base_url=server.url, timeout=60) as http:
            items = wait_for_burst(http, count, timeout=180)
    finally:
        publisher.close()
    assert_one_each(items, count)
    log = server.log_text()
    assert "session present True" in log
    # What was sent to the killed process came again.
    assert "delivered again after a reconnect" in log, log[-3000:]
