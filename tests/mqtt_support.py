"""A real MQTT client for tests, the shared broker's address, and private brokers."""

from __future__ import annotations

import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tests.conftest import free_port, missing_service, require_server_lane
from tests.support import SLOW_CODE, list_executions, py_task, wait_until

T = TypeVar("T")
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def broker_address() -> tuple[str, int]:
    host = os.environ.get("TASKGATE_TEST_MQTT_HOST", "127.0.0.1")
    return host, int(os.environ.get("TASKGATE_TEST_MQTT_PORT", "1883"))


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_broker() -> tuple[str, int]:
    """The shared broker; the test skips without it (fails with TASKGATE_REQUIRE_SERVICES=1)."""
    host, port = broker_address()
    if not port_open(host, port):
        missing_service(f"MQTT broker unreachable at {host}:{port}")
    return host, port


def require_mosquitto_binary() -> str:
    if not Path(MOSQUITTO).exists():
        missing_service(f"mosquitto not installed ({MOSQUITTO}); a private broker is needed")
    return MOSQUITTO


def prefix() -> str:
    """A topic prefix no other test (or helper sharing the broker) uses."""
    return f"tgtest/{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    correlation_data: bytes | None

    def json(self) -> Any:
        return json.loads(self.payload)


class MqttProbe:
    """Publishes and records what arrives on its subscriptions (MQTT 5, QoS 1)."""

    def __init__(
        self, host: str, port: int, *, client_id: str | None = None, persistent: bool = False
    ) -> None:
        self.messages: list[Received] = []
        self._cond = threading.Condition()
        self._connected = threading.Event()
        self._topics: list[str] = []
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"probe-{uuid.uuid4().hex[:10]}",
            protocol=paho.MQTTv5,
        )
        self.client.max_inflight_messages_set(1000)
        self.client.reconnect_delay_set(1, 2)
        self.client.on_message = self._on_message
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *_: self._connected.clear()
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        if persistent:
            props.SessionExpiryInterval = 3600
        self.client.connect_async(host, port, clean_start=not persistent, properties=props)
        self.client.loop_start()
        assert self._connected.wait(10), f"probe could not connect to {host}:{port}"

    def _on_connect(self, client: paho.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not reason.is_failure:
            for topic in self._topics:
                client.subscribe(topic, qos=1)
            self._connected.set()

    def _on_message(self, _c: paho.Client, _u: Any, message: paho.MQTTMessage) -> None:
        props = getattr(message, "properties", None)
        correlation = getattr(props, "CorrelationData", None) if props else None
        with self._cond:
            self.messages.append(Received(message.topic, bytes(message.payload), correlation))
            self._cond.notify_all()

    def subscribe(self, topic: str) -> None:
        done = threading.Event()
        self.client.on_subscribe = lambda *_: done.set()
        self._topics.append(topic)
        self.client.subscribe(topic, qos=1)
        assert done.wait(10), f"no SUBACK for {topic}"

    def publish(
        self,
        topic: str,
        payload: str | bytes,
        *,
        response_topic: str | None = None,
        correlation: bytes | None = None,
        user: dict[str, str] | None = None,
        wait: bool = True,
    ) -> paho.MQTTMessageInfo:
        props: Properties | None = None
        if response_topic or correlation or user:
            props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            if response_topic:
                props.ResponseTopic = response_topic
            if correlation:
                props.CorrelationData = correlation
            if user:
                props.UserProperty = list(user.items())
        info = self.client.publish(topic, payload, qos=1, properties=props)
        if wait:
            info.wait_for_publish(10)
        return info

    def on(self, topic: str) -> list[Received]:
        with self._cond:
            return [m for m in self.messages if m.topic == topic]

    def wait_for(
        self, predicate: Callable[[list[Received]], T | None], timeout: float = 30, what: str = ""
    ) -> T:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = predicate(self.messages)
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    got = [(m.topic, m.payload[:200]) for m in self.messages[-20:]]
                    raise AssertionError(f"MQTT: not within {timeout}s: {what}; last: {got}")
                self._cond.wait(remaining)

    def wait_on(self, topic: str, count: int = 1, timeout: float = 30) -> list[Received]:
        def enough(messages: list[Received]) -> list[Received] | None:
            found = [m for m in messages if m.topic == topic]
            return found if len(found) >= count else None

        return self.wait_for(enough, timeout, what=f"{count} message(s) on {topic}")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class PrivateBroker:
    """A Mosquitto of our own (own port, persistence in a temp folder) to stop and start."""

    def __init__(self, folder: Path) -> None:
        self.binary = require_mosquitto_binary()
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.conf = folder / "mosquitto.conf"
        self.conf.write_text(
            # Run as whoever runs the tests: as root, Mosquitto would otherwise switch to the
            # `mosquitto` user, who cannot write the persistence file in our temp folder.
            f"user {getpass.getuser()}\n"
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {folder}/\n"
            "max_queued_messages 0\n"
            "max_inflight_messages 0\n"
            f"log_dest file {folder}/mosquitto.log\n"
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        require_server_lane("a Mosquitto broker")
        self.process = subprocess.Popen([self.binary, "-c", str(self.conf)])
        deadline = time.monotonic() + 10
        while not port_open("127.0.0.1", self.port):
            assert self.process.poll() is None, f"mosquitto exited: {self.log()}"
            assert time.monotonic() < deadline, "mosquitto did not open its port"
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            # SIGTERM: Mosquitto writes its persistence file (sessions, queued messages).
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(20)
        self.process = None

    def __enter__(self) -> PrivateBroker:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def log(self) -> str:
        path = self.folder / "mosquitto.log"
        return path.read_text()[-3000:] if path.exists() else ""


# --- bursts of keyed starts --------------------------------------------------------------------


def burst_task(name: str) -> dict[str, Any]:
    """The task of a burst (label `burst`, parameter `n`): one execution runs (slow) and every
    later start is stored as skipped, so each message becomes one execution without thousands
    of processes."""
    return py_task(
        name,
        SLOW_CODE,
        label="burst",
        concurrency={"max_running": 1, "overlap": "skip"},
        params=[{"name": "n", "type": "int", "required": True}],
    )


def publish_burst(
    publisher: MqttProbe,
    topic: str,
    count: int,
    key_prefix: str,
    *,
    restart_midway: PrivateBroker | None = None,
) -> list[paho.MQTTMessageInfo]:
    """`count` keyed QoS 1 starts of `burst_task` (n = 0, 1, ...), sent without waiting; with
    `restart_midway`, that broker is restarted while they flow."""
    infos = []
    for n in range(count):
        body = {"tasks": ["label:burst"], "params": {"n": n}, "idempotency_key": f"{key_prefix}{n}"}
        infos.append(publisher.publish(topic, json.dumps(body), wait=False))
        if restart_midway is not None and n == count // 2:
            # The first quarter has reached the broker, the rest is in flight or still queued
            # in the publisher.
            infos[count // 4].wait_for_publish(30)
            restart_midway.stop()
            restart_midway.start()
    return infos


def wait_for_burst(http: httpx.Client, count: int, timeout: float) -> list[dict[str, Any]]:
    """The MQTT-started executions, once there are at least `count` of them."""

    def stored() -> list[dict[str, Any]] | None:
        items = list_executions(http, origin="mqtt", limit=1000)
        return items if len(items) >= count else None

    return wait_until(stored, timeout=timeout, interval=0.5, what=f"{count} executions")


def assert_one_each(items: list[dict[str, Any]], count: int) -> None:
    numbers = sorted(int(item["params"]["n"]) for item in items)
    assert numbers == list(range(count)), "a message has no execution or more than one"
