"""MQTT: start messages -> committed executions per second, and publish -> running latency.

    .venv/bin/python bench/mqtt.py [--messages 10000] [--count 500] [--broker 127.0.0.1:1883]

By default the script runs its own Mosquitto (`mosquitto` from Debian's package) on a free
port with `max_queued_messages 0` and `set_tcp_nodelay true`: Mosquitto's defaults drop QoS 1
messages beyond 1,000 queued for one client (a burst loses messages) and leave Nagle on
(about 40 ms per answer). `--broker host:port` uses another broker instead; every topic is then
under a random prefix, so nobody else's messages are touched.

*Phase A, starts committed:* one paho client publishes `--messages` JSON start messages
(`{"tasks": ["id:…"], "params": {"n": i}, "idempotency_key": …}`, QoS 1) as fast as it can.
The task has overlap `skip` and one long execution of it is kept running, so each message is
stored as one `skipped` execution in its start transaction (no process per message). The
server publishes each stored execution's state event (QoS 1) under the prefix; the rate is
messages / (the last event received - the first message sent). Afterwards the script lists
the task's executions over REST: there must be exactly one per message.

*Phase B, publish -> running:* `--count` plain-id start messages, one at a time, for a task
whose program (the C stamp program of trigger_latency.py) writes CLOCK_REALTIME first thing in
`main`. The client notes `time.time_ns()` just before it publishes; the figure is the
program's clock reading minus that. The start answer (MQTT 5 response topic) and the end
answer arrive on the reply topic; the next message is sent after the end.
"""

from __future__ import annotations

import argparse
import getpass
import json
import queue
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from common import (
    Profiler,
    Server,
    Summary,
    Table,
    free_port,
    machine_line,
    parser,
    spread_table,
    stamp_program,
    task,
    verdict,
)

TARGET_RATE = 2000.0
TARGET_P50_MS = 10.0


class Bus:
    """A paho client on its own thread; what arrives goes to a queue with its arrival time."""

    def __init__(self, host: str, port: int) -> None:
        self.inbox: queue.Queue[tuple[int, str, bytes]] = queue.Queue()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"bench-{uuid.uuid4().hex[:8]}",
            protocol=paho.MQTTv5,
        )
        self.client.max_inflight_messages_set(2000)
        self.client.on_message = lambda _c, _u, m: self.inbox.put(
            (time.time_ns(), m.topic, bytes(m.payload))
        )
        connected = threading.Event()

        def on_connect(client: paho.Client, *_: Any) -> None:
            sock = client.socket()
            if isinstance(sock, socket.socket):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            connected.set()

        self.client.on_connect = on_connect
        self.client.connect(host, port)
        self.client.loop_start()
        if not connected.wait(10):
            raise RuntimeError(f"cannot connect to the broker at {host}:{port}")

    def subscribe(self, topic: str) -> None:
        done = threading.Event()
        self.client.on_subscribe = lambda *_: done.set()
        self.client.subscribe(topic, qos=1)
        if not done.wait(10):
            raise RuntimeError(f"no SUBACK for {topic}")

    def publish(self, topic: str, payload: str, response_topic: str | None = None) -> Any:
        props = None
        if response_topic:
            props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            props.ResponseTopic = response_topic
        return self.client.publish(topic, payload, qos=1, properties=props)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def main() -> None:
    p = parser(__doc__.splitlines()[0] if __doc__ else "")
    p.add_argument("--messages", type=int, default=10000, help="Phase A messages (10000).")
    p.add_argument("--count", type=int, default=500, help="Phase B sequential starts (500).")
    p.add_argument("--warmup", type=int, default=20, help="Phase B starts not measured (20).")
    p.add_argument("--broker", default=None, help="host:port of a broker (default: our own).")
    p.add_argument("--no-keys", action="store_true", help="Phase A without idempotency keys.")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="taskgate-mosquitto-") as folder:
        broker = None
        if args.broker:
            host, _, port_text = args.broker.rpartition(":")
            port = int(port_text)
        else:
            host, port = "127.0.0.1", free_port()
            broker = private_broker(Path(folder), port)
        try:
            bench(host, port, args, "external broker" if args.broker else "own Mosquitto")
        finally:
            if broker is not None:
                broker.terminate()
                broker.wait(20)


def private_broker(folder: Path, port: int) -> subprocess.Popen[bytes]:
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    conf = folder / "mosquitto.conf"
    conf.write_text(
        f"user {getpass.getuser()}\nlistener {port} 127.0.0.1\nallow_anonymous true\n"
        "max_queued_messages 0\nset_tcp_nodelay true\n"
        f"log_dest file {folder}/mosquitto.log\n"
    )
    process = subprocess.Popen([binary, "-c", str(conf)])
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mosquitto did not start on port {port}") from None
            time.sleep(0.02)


def bench(host: str, port: int, args: argparse.Namespace, broker_label: str) -> None:
    print(f"broker {host}:{port} ({broker_label})")
    topics = f"taskgate-bench/{uuid.uuid4().hex[:10]}"

    with tempfile.TemporaryDirectory(prefix="taskgate-stamp-") as tmp:
        program = stamp_program(Path(tmp))
        hold = task("bench-mqtt-hold", ["sleep", "3600"], overlap="skip", max_running=1)
        stamp = task("bench-mqtt-stamp", program.argv, overlap="allow", timeout=30)
        config = {
            "mqtt": {
                "enabled": True,
                "host": host,
                "port": port,
                "client_id": f"taskgate-bench-{uuid.uuid4().hex[:6]}",
                "start": {"topic": f"{topics}/start"},
                "events": {"topic": topics + "/ex/{task_id}/{status}"},
                "butler": {"enabled": False},
            }
        }
        with Server(
            [hold, stamp],
            slots=4,
            database_url=args.database_url,
            keep=args.keep,
            loop=args.loop,
            extra_config=config,
        ) as server:
            print(f"server pid {server.pid} on {server.url}; {server.database_label}")
            bus = Bus(host, port)
            try:
                throughput(server, bus, topics, hold["id"], args)
                latency(server, bus, topics, stamp["id"], program.kind, args)
            finally:
                bus.close()


def throughput(
    server: Server, bus: Bus, topics: str, task_id: str, args: argparse.Namespace
) -> None:
    count: int = args.messages
    bus.subscribe(f"{topics}/ex/{task_id}/#")
    start_topic = f"{topics}/start"
    # The one execution that runs, so every later start is stored as skipped.
    bus.publish(start_topic, task_id)
    while True:
        _, topic, _ = bus.inbox.get(timeout=30)
        if topic.endswith("/started"):
            break
    run = uuid.uuid4().hex[:8]
    problems: list[str] = []
    cpu_before = server.cpu_seconds()
    with Profiler(server.pid, args.profile):
        t0 = time.time_ns()
        for n in range(count):
            body: dict[str, Any] = {"tasks": [f"id:{task_id}"], "params": {"n": n}}
            if not args.no_keys:
                body["idempotency_key"] = f"{run}-{n}"
            bus.publish(start_topic, json.dumps(body))
        t_sent = time.time_ns()
        seen = 0
        last = t0
        deadline = time.monotonic() + 120
        while seen < count and time.monotonic() < deadline:
            try:
                at, topic, _ = bus.inbox.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                break
            if topic.endswith("/skipped"):
                seen += 1
                last = at
    cpu = server.cpu_seconds() - cpu_before
    if seen < count:
        problems.append(f"only {seen} of {count} skipped events within 120 s")
    with httpx.Client(base_url=server.url, timeout=60) as client:
        stored = 0
        numbers: set[int] = set()
        cursor: str | None = None
        while True:
            query: dict[str, Any] = {"task_id": task_id, "origin": "mqtt", "limit": 1000}
            if cursor:
                query["cursor"] = cursor
            page = client.get("/api/v1/executions", params=query).json()
            for item in page["items"]:
                if item["status"] == "skipped":
                    stored += 1
                    numbers.add(int(item["params"]["n"]))
            cursor = page["next_cursor"]
            if not cursor:
                break
    if stored != count or len(numbers) != count:
        problems.append(f"stored {stored} skipped executions for {len(numbers)} distinct messages")
    seconds = (last - t0) / 1e9
    rate = seen / seconds if seconds > 0 else 0.0
    table = Table(
        f"MQTT starts committed - {count} messages ({server.database_label}, "
        f"{'no keys' if args.no_keys else 'idempotency keys'})",
        ["measure", "value"],
    )
    table.add("messages published in (s)", f"{(t_sent - t0) / 1e9:.2f}")
    table.add("first sent -> last state event (s)", f"{seconds:.2f}")
    table.add("committed executions / s", f"{rate:.0f}")
    table.add("stored (REST), distinct messages", f"{stored}, {len(numbers)}")
    table.add("server CPU per start (ms)", f"{cpu / max(1, seen) * 1000:.3f}")
    table.notes.append(f"target: >= {TARGET_RATE:.0f}/s ({verdict(rate >= TARGET_RATE)})")
    table.notes.append(machine_line())
    table.notes.extend(f"problem: {p}" for p in problems)
    table.notes.extend(f"server log: {line[:200]}" for line in server.log_problems()[:5])
    table.print()


def latency(
    server: Server, bus: Bus, topics: str, task_id: str, kind: str, args: argparse.Namespace
) -> None:
    reply = f"{topics}/reply"
    bus.subscribe(reply)
    running_ms: list[float] = []
    answered_ms: list[float] = []
    problems: list[str] = []
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for i in range(args.warmup + args.count):
            t0 = time.time_ns()
            bus.publish(f"{topics}/start", task_id, response_topic=reply)
            answer: dict[str, Any] | None = None
            end: dict[str, Any] | None = None
            t_answer = 0
            while end is None:
                try:
                    at, topic, payload = bus.inbox.get(timeout=30)
                except queue.Empty:
                    problems.append(f"start {i}: no answer within 30 s")
                    break
                if topic != reply:
                    continue
                body = json.loads(payload)
                if body["type"] == "start":
                    answer, t_answer = body, at
                else:
                    end = body
            if answer is None or end is None:
                continue
            execution = client.get(f"/api/v1/executions/{answer['executions'][0]['id']}").json()
            result = execution.get("result") or {}
            if execution["status"] != "finished_success" or "started_ns" not in result:
                problems.append(f"start {i}: {execution['status']} {execution.get('message')!r}")
                continue
            if i < args.warmup:
                continue
            running_ms.append((result["started_ns"] - t0) / 1e6)
            answered_ms.append((t_answer - t0) / 1e6)
    table = spread_table(
        f"MQTT publish -> running - {len(running_ms)} sequential starts "
        f"({server.database_label}, program {kind})",
        [
            ("publish -> process running", running_ms),
            ("publish -> start answer received", answered_ms),
        ],
    )
    s = Summary.of(running_ms)
    table.notes.append(
        f"target: p50 <= {TARGET_P50_MS:g} ms ({verdict(s.median <= TARGET_P50_MS)})"
    )
    table.notes.append(machine_line())
    table.notes.extend(f"problem: {p}" for p in problems[:10])
    table.print()


if __name__ == "__main__":
    main()
