"""Backpressure over the wire: past `executor.max_queued` (or a task's `max_queued`) every door
refuses a start with its own answer and Retry-After, and accepts again once the queue drained.

The task is the gate (tests/support.py: runs until `release` appears in its folder), with one
executor slot: one run holds the slot, the others wait in the queue.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx

from tests.butler.conftest import demo_butler
from tests.conftest import ServerProcess, StartServer
from tests.integration.test_cli import run_cli
from tests.integration.test_mqtt import mqtt_config
from tests.mqtt_support import MqttProbe, Received, prefix, require_broker
from tests.qrs.conftest import QrsClient
from tests.support import (
    GATE_CODE,
    create_task,
    list_executions,
    ok_json,
    py_task,
    start,
    unique,
    wait_execution,
    wait_status,
    wait_until,
)

GATE_ID = "0b7b1c50-6a47-4d63-9a55-6f0b6c1ab001"
OTHER_ID = "0b7b1c50-6a47-4d63-9a55-6f0b6c1ab002"
RETRY_AFTER = 3


def gate(folder: Path, **fields: Any) -> dict[str, Any]:
    return py_task(
        "Gate",
        GATE_CODE,
        id=GATE_ID,
        label="gate",
        params=[{"name": "dir", "type": "string", "default": str(folder)}],
        concurrency={"max_running": 10, "overlap": "allow"},
        **fields,
    )


def serve(start_server: StartServer, folder: Path, executor: dict[str, Any], **doors: Any) -> Any:
    config = {"executor": {"slots": 1, "retry_after_seconds": RETRY_AFTER, **executor}, **doors}
    return start_server(config, tasks=[gate(folder)])


def first_running(client: httpx.Client) -> str:
    """One gate run holding the only slot (it runs until released)."""
    execution_id: str = start(client, ["label:gate"])["executions"][0]["id"]
    wait_status(client, execution_id, "started")
    return execution_id


def refused_json(response: httpx.Response, status: int) -> Any:
    assert response.status_code == status, response.text
    assert response.headers["retry-after"] == str(RETRY_AFTER), response.headers
    return response.json()


def metric(client: httpx.Client, name: str, **labels: str) -> float:
    text = client.get("/metrics").text
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        match = re.match(rf"{name}\{{(.*)\}} (\S+)$", line)
        if match and ",".join(sorted(match.group(1).split(","))) == wanted:
            return float(match.group(2))
    return 0.0


def test_every_door_refuses_past_the_bound_then_accepts_again(
    start_server: StartServer, tmp_path: Path
) -> None:
    server: ServerProcess = serve(
        start_server,
        tmp_path,
        {"max_queued": 2},
        butler=demo_butler(),
        qrs={"enabled": True},
        jaseci={"enabled": True},
    )
    with server.client() as client:
        running = first_running(client)
        try:
            queued = [start(client, ["label:gate"])["executions"][0] for _ in range(2)]
            assert [e["status"] for e in queued] == ["queued", "queued"]

            # Native API: 429, Retry-After, a JSON error naming the bound.
            body = refused_json(
                client.post("/api/v1/start", json={"selectors": ["label:gate"]}), 429
            )
            assert body["error"] == "queue_full"
            assert body["field"] == "executor.max_queued"
            assert "executor.max_queued: 2" in body["message"]
            assert body["details"] == {
                "bound": "executor.max_queued",
                "max_queued": 2,
                "retry_after": RETRY_AFTER,
            }
            phases = {"phases": [["gate"]]}
            body = refused_json(client.post("/api/v1/workflows/run", json=phases), 429)
            assert body["error"] == "queue_full"

            # Butler: Fastify's error shape, as @fastify/rate-limit answers.
            body = refused_json(client.put(f"/v4/reloadtask/{GATE_ID}/start"), 429)
            assert set(body) == {"statusCode", "error", "message"}
            assert body["statusCode"] == 429 and body["error"] == "Too Many Requests"
            assert "executor.max_queued" in body["message"]

            # QRS: 503 with Retry-After, QRS's error body.
            response = QrsClient(client).post(f"/task/{GATE_ID}/start")
            body = refused_json(response, 503)
            assert body["field"] == "executor.max_queued" and "message" in body

            # Jaseci door: 429 with Retry-After, the native error body.
            response = client.post("/js/walker_run", json={"name": "gate", "is_async": True})
            assert refused_json(response, 429)["error"] == "queue_full"

            # The command line: the server said no, exit 1, with the message.
            done = run_cli(server, "start", "label:gate")
            assert done.returncode == 1, done
            assert "executor.max_queued" in done.stdout + done.stderr

            refused = {
                origin: metric(
                    client,
                    "taskgate_starts_refused_queue_full_total",
                    bound="executor.max_queued",
                    origin=origin,
                )
                for origin in ("api", "cli")
            }
            # The start and the workflow through the API; the command line records its own door.
            assert refused == {"api": 2, "cli": 1}
            assert (
                metric(
                    client,
                    "taskgate_starts_refused_queue_full_total",
                    bound="executor.max_queued",
                    origin="butler",
                )
                == 1
            )
            # Nothing of the refused starts was written.
            assert len(list_executions(client, task=GATE_ID)) == 3
        finally:
            (tmp_path / "release").touch()
        for execution_id in [running, *(e["id"] for e in queued)]:
            assert wait_execution(client, execution_id)["status"] == "finished_success"
        # The queue drained: starts are accepted again.
        again = start(client, ["label:gate"])["executions"][0]
        assert wait_execution(client, again["id"])["status"] == "finished_success"


def test_a_task_bound_refuses_its_task_only(start_server: StartServer, tmp_path: Path) -> None:
    server = start_server({"executor": {"slots": 1, "retry_after_seconds": RETRY_AFTER}})
    with server.client() as client:
        task = gate(tmp_path)
        task["concurrency"]["max_queued"] = 1
        create_task(client, task)
        other = unique("other")
        create_task(client, py_task(other, "print('other')", id=OTHER_ID, label=other))
        running = first_running(client)
        try:
            assert start(client, ["label:gate"])["executions"][0]["status"] == "queued"
            body = refused_json(
                client.post("/api/v1/start", json={"selectors": ["label:gate"]}), 429
            )
            assert body["field"] == "concurrency.max_queued"
            assert body["details"]["task_id"] == GATE_ID
            assert "task 'Gate'" in body["message"]
            # Another task has no bound of its own and no global one applies.
            answer = ok_json(client.post("/api/v1/start", json={"selectors": [f"label:{other}"]}))
            assert answer["executions"][0]["status"] == "queued"
            shown = ok_json(client.get(f"/api/v1/tasks/{GATE_ID}"))
            assert shown["concurrency"]["max_queued"] == 1
        finally:
            (tmp_path / "release").touch()
        assert wait_execution(client, running)["status"] == "finished_success"


def test_mqtt_holds_the_ack_until_there_is_room(start_server: StartServer, tmp_path: Path) -> None:
    """Four start messages, room for one waiting: the refused ones are held (no PUBACK, no
    answer), and each starts once there is room - all four run, each once."""
    host, port = require_broker()
    topics = prefix()
    config = mqtt_config(host, port, topics)
    config["executor"] = {"slots": 1, "max_queued": 1, "retry_after_seconds": 1}
    server = start_server(config, tasks=[gate(tmp_path)])
    probe = MqttProbe(host, port)
    reply = f"{topics}/reply"
    try:
        probe.subscribe(reply)
        names = [f"c{i}".encode() for i in range(4)]
        for name in names:
            probe.publish(f"{topics}/start", "gate", response_topic=reply, correlation=name)
        with server.client() as client:

            def refused() -> float:
                return metric(
                    client,
                    "taskgate_starts_refused_queue_full_total",
                    bound="executor.max_queued",
                    origin="mqtt",
                )

            # One runs, one waits; the other two cannot get in before the release: they are
            # held (refused at least once each), not in the database, not answered.
            wait_until(
                lambda: refused() >= 2 and len(list_executions(client, task=GATE_ID)) == 2,
                what="two start messages held by the bound",
            )
            answered = {m.correlation_data for m in probe.on(reply)}
            assert len(answered & set(names)) <= 2
            (tmp_path / "release").touch()

            def ends(messages: list[Received]) -> dict[bytes, list[Any]] | None:
                found: dict[bytes, list[Any]] = {}
                for m in messages:
                    if m.topic == reply and m.correlation_data:
                        found.setdefault(m.correlation_data, []).append(m.json())
                finished = [v for v in found.values() if any(a["type"] == "end" for a in v)]
                return found if len(finished) == len(names) else None

            replies = probe.wait_for(ends, what="every start message started and ended")
            executions = list_executions(client, task=GATE_ID)
        assert sorted(replies) == sorted(names)
        for name in names:
            started = [a for a in replies[name] if a["type"] == "start"]
            assert len(started) == 1 and started[0]["ok"] is True, replies[name]
        assert len(executions) == len(names)
        assert {e["status"] for e in executions} == {"finished_success"}
        runs = (tmp_path / "runs").read_text().split()
        assert sorted(runs) == sorted(e["id"] for e in executions)  # each ran once
    finally:
        (tmp_path / "release").touch()
        probe.close()
