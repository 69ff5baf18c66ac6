"""Idempotency when the caller's name differs from its scope (an API key is named `key:<name>`
and scoped by its id; an MQTT publisher that names itself is `mqtt:<client>` in scope `mqtt`),
and the batched start path under concurrent HTTP starts: what is saved is what was answered."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from tests.conftest import ServerProcess, StartServer
from tests.integration.test_mqtt import probe, serve, topics  # noqa: F401 (fixtures)
from tests.mqtt_support import MqttProbe
from tests.support import (
    STANDARD_TASKS,
    create_task,
    list_executions,
    ok_json,
    parse_secret,
    py_task,
    unique,
)


def test_native_api_with_a_key_starts_once_per_idempotency_key(
    start_server: StartServer,
) -> None:
    server = start_server({"auth": "keys"}, tasks=STANDARD_TASKS)
    keys = {
        name: parse_secret(server.cli("keys", "create", "--name", name, "--role", "operator"))
        for name in ("erp", "crm")
    }
    idem = f"k-{uuid.uuid4()}"

    def start(secret: str) -> httpx.Response:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            return http.post(
                "/api/v1/start",
                json={"selectors": ["label:quick"]},
                headers={"Authorization": f"Bearer {secret}", "Idempotency-Key": idem},
            )

    first, again = start(keys["erp"]), start(keys["erp"])
    assert first.status_code == again.status_code == 200, (first.text, again.text)
    assert again.headers.get("Idempotency-Replayed") == "true"
    assert again.json()["replayed"] is True and first.json()["replayed"] is False
    assert again.json()["executions"] == first.json()["executions"]
    # Another key is another caller: the same Idempotency-Key is its own start.
    other = start(keys["crm"])
    assert other.json()["replayed"] is False
    assert other.json()["executions"][0]["id"] != first.json()["executions"][0]["id"]
    viewer = {"Authorization": f"Bearer {keys['erp']}"}
    with httpx.Client(base_url=server.url, timeout=30, headers=viewer) as client:
        assert len(list_executions(client, task="quick")) == 2


def test_mqtt_publisher_naming_itself_starts_once_per_key(
    start_server: StartServer,
    topics: str,  # noqa: F811 (fixture)
    probe: MqttProbe,  # noqa: F811 (fixture)
) -> None:
    server = serve(start_server, topics, final_reply=False)
    reply = f"{topics}/reply"
    probe.subscribe(reply)
    body = json.dumps({"tasks": ["quick"], "idempotency_key": f"k-{uuid.uuid4()}"})
    for _ in range(3):
        probe.publish(f"{topics}/start", body, response_topic=reply, user={"client": "erp"})
    got = [m.json() for m in probe.wait_on(reply, 3)]
    assert len({a["executions"][0]["id"] for a in got}) == 1, got
    with httpx.Client(base_url=server.url, timeout=30) as http:
        items = ok_json(http.get("/api/v1/executions", params={"origin": "mqtt"}))["items"]
    assert len(items) == 1
    assert items[0]["caller"] == "mqtt:erp"


def test_concurrent_http_starts_save_what_they_answer(server: ServerProcess) -> None:
    label = unique("burst")
    with server.client() as client:
        create_task(
            client,
            py_task(
                f"Burst {label}",
                "print('hi')",
                label=label,
                concurrency={"max_running": 100, "overlap": "allow"},
            ),
        )
    keys = [f"{label}-{n}" for n in range(10)]
    # 20 unkeyed starts and each of 10 keys twice, all at once: the group commit batches them.
    calls: list[str | None] = [*([None] * 20), *keys, *keys]

    def start(key: str | None) -> dict[str, Any]:
        headers = {"Idempotency-Key": key} if key else {}
        with httpx.Client(base_url=server.url, timeout=60) as http:
            answer = http.post(
                "/api/v1/start", json={"selectors": [f"label:{label}"]}, headers=headers
            )
            assert answer.status_code == 200, answer.text
            result: dict[str, Any] = answer.json()
            return result

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        answers = list(pool.map(start, calls))
    answered = {a["executions"][0]["id"] for a in answers}
    by_key: dict[str, set[str]] = {}
    for key, answer in zip(calls, answers, strict=True):
        if key is not None:
            by_key.setdefault(key, set()).add(answer["executions"][0]["id"])
    assert all(len(ids) == 1 for ids in by_key.values()), by_key
    assert sum(1 for a in answers if a["replayed"]) == len(keys)
    with server.client() as client:
        saved = {e["id"] for e in list_executions(client, task=label, limit=100)}
    assert saved == answered and len(saved) == 20 + len(keys)
