"""The MQTT door against the real Mosquitto on 127.0.0.1:1883: starts in, answers and events out.

Each test uses its own topic prefix and client id, so tests (and other users of the shared
broker) never see each other's messages.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import ServerProcess, StartServer
from tests.mqtt_support import MqttProbe, Received, prefix, require_broker
from tests.support import (
    QUICK_ID,
    STANDARD_TASKS,
    abort,
    get_execution,
    ok_json,
    wait_status,
)


def mqtt_config(host: str, port: int, p: str, **start: Any) -> dict[str, Any]:
    return {
        "mqtt": {
            "enabled": True,
            "host": host,
            "port": port,
            "client_id": f"taskgate-test-{uuid.uuid4().hex[:10]}",
            "start": {"topic": f"{p}/start", **start},
            "events": {"topic": p + "/ex/{task_id}/{execution_id}/{status}"},
            "butler": {
                "task_failure_topic": f"{p}/task_failure",
                "task_failure_full_topic": f"{p}/task_failure_full",
                "task_aborted_topic": f"{p}/task_aborted",
                "task_aborted_full_topic": f"{p}/task_aborted_full",
            },
        }
    }


@pytest.fixture
def topics() -> str:
    return prefix()


@pytest.fixture
def probe() -> Iterator[MqttProbe]:
    host, port = require_broker()
    client = MqttProbe(host, port)
    yield client
    client.close()


def serve(start_server: StartServer, topics: str, **start: Any) -> ServerProcess:
    host, port = require_broker()
    return start_server(mqtt_config(host, port, topics, **start), tasks=STANDARD_TASKS)


def answers(probe: MqttProbe, topic: str, count: int) -> list[dict[str, Any]]:
    return [m.json() for m in probe.wait_on(topic, count)]


def test_readyz_shows_the_connection(start_server: StartServer, topics: str) -> None:
    server = serve(start_server, topics)
    with httpx.Client(base_url=server.url, timeout=10) as http:
        body = ok_json(http.get("/readyz"))
    assert body == {"status": "ready", "checks": {"database": "ok", "mqtt": "connected"}}
    assert "MQTT connected to" in server.log_text()


def test_start_by_id_label_and_json_with_answers(
    start_server: StartServer, topics: str, probe: MqttProbe
) -> None:
    server = serve(start_server, topics, reply_topic=f"{topics}/default-reply")
    probe.subscribe(f"{topics}/reply")
    probe.subscribe(f"{topics}/default-reply")
    start = f"{topics}/start"
    reply = f"{topics}/reply"
    probe.publish(start, QUICK_ID, response_topic=reply, correlation=b"by-id")
    probe.publish(start, "quick", response_topic=reply, correlation=b"by-label")
    body = {"tasks": ["label:quick"], "params": {"region": "US"}, "correlation_id": "j1"}
    probe.publish(start, json.dumps(body))

    # Each start is answered first, then each execution's end, with its correlation data.
    def by_correlation(messages: list[Received]) -> dict[bytes, list[Any]] | None:
        found: dict[bytes, list[Any]] = {}
        for m in messages:
            if m.topic == reply and m.correlation_data:
                found.setdefault(m.correlation_data, []).append(m.json())
        done = len(found) == 2 and all(len(v) == 2 for v in found.values())
        return found if done else None

    replies = probe.wait_for(by_correlation, what="two answers each for by-id and by-label")
    for key in (b"by-id", b"by-label"):
        started, ended = replies[key]
        assert started["type"] == "start" and started["ok"] is True, started
        assert started["started"] == 1
        execution_id = started["executions"][0]["id"]
        assert ended["type"] == "end"
        assert ended["execution"]["execution_id"] == execution_id
        assert ended["execution"]["status"] == "finished_success"
        assert ended["execution"]["origin"] == "mqtt"

    started, ended = answers(probe, f"{topics}/default-reply", 2)
    assert started["ok"] is True and started["correlation_id"] == "j1"
    assert ended["correlation_id"] == "j1"
    assert ended["execution"]["status"] == "finished_success"
    with httpx.Client(base_url=server.url, timeout=30) as http:
        execution = get_execution(http, started["executions"][0]["id"])
    assert execution["origin"] == "mqtt"
    assert execution["caller"] == "mqtt"
    assert execution["params"]["region"] == "US"


def test_bad_payloads_are_answered_and_the_door_keeps_working(
    start_server: StartServer, topics: str, probe: MqttProbe
) -> None:
    server = serve(start_server, topics, final_reply=False)
    reply = f"{topics}/reply"
    probe.subscribe(reply)
    bad: list[tuple[bytes | str, str]] = [
        (b"\xff\xfe", "payload"),
        ("   ", "payload"),
        ("{not json", "payload"),
        ('{"tasks": []}', "tasks"),
        ('{"tasks": ["quick"], "surprise": 1}', "surprise"),
        ('{"tasks": "quick"}', "tasks"),
        ('{"tasks": ["label:typed"], "params": {"count": "many"}}', "count"),
        ('{"tasks": ["quick"], "idempotency_key": ""}', "idempotency_key"),
    ]
    for i, (payload, _) in enumerate(bad):
        probe.publish(f"{topics}/start", payload, response_topic=reply, correlation=b"%d" % i)
    got = probe.wait_on(reply, len(bad))
    by_index = {int(m.correlation_data or b"-1"): m.json() for m in got}
    for i, (_, field) in enumerate(bad):
        answer = by_index[i]
        assert answer["ok"] is False, answer
        assert answer["error"] == "invalid", answer
        assert field in answer.get("field", "") or field in answer["message"], answer
    # A selector that matches nothing is no error: the answer says what happened.
    probe.publish(f"{topics}/start", "label:no-such-task", response_topic=reply, correlation=b"nf")
    answer = probe.wait_for(
        lambda ms: next((m.json() for m in ms if m.correlation_data == b"nf"), None)
    )
    assert answer["ok"] is True and answer["started"] == 0
    assert answer["results"][0]["outcome"] == "not_found"
    # Still alive and starting.
    probe.publish(f"{topics}/start", "quick", response_topic=reply, correlation=b"ok")
    answer = probe.wait_for(
        lambda ms: next((m.json() for m in ms if m.correlation_data == b"ok"), None)
    )
    assert answer["ok"] is True and answer["started"] == 1
    assert "refused" in server.log_text()


def test_allow_list_applies_to_mqtt_starts(
    start_server: StartServer, topics: str, probe: MqttProbe
) -> None:
    serve(start_server, topics, allowed_tasks=["sel-a", "tag:beta"], final_reply=False)
    reply = f"{topics}/reply"
    probe.subscribe(reply)
    for selector in ("sel-b", "sel-a", "tag:beta", "tag:alpha"):
        probe.publish(
            f"{topics}/start", selector, response_topic=reply, correlation=selector.encode()
        )
    got = {m.correlation_data: m.json() for m in probe.wait_on(reply, 4)}
    assert got[b"sel-b"]["results"][0]["outcome"] == "denied"
    assert got[b"sel-b"]["started"] == 0
    assert got[b"sel-a"]["started"] == 1
    assert [e["task_name"] for e in got[b"tag:beta"]["executions"]] == ["Selector task C"]
    # tag:alpha names A and B: only A is on the list.
    assert [e["task_name"] for e in got[b"tag:alpha"]["executions"]] == ["Selector task A"]


def test_a_repeated_message_with_an_idempotency_key_starts_once(
    start_server: StartServer, topics: str, probe: MqttProbe
) -> None:
    server = serve(start_server, topics, final_reply=False)
    reply = f"{topics}/reply"
    probe.subscribe(reply)
    body = json.dumps({"tasks": ["quick"], "idempotency_key": f"k-{uuid.uuid4()}"})
    for _ in range(3):
        probe.publish(f"{topics}/start", body, response_topic=reply)
    got = [m.json() for m in probe.wait_on(reply, 3)]
    assert len({a["executions"][0]["id"] for a in got}) == 1, got
    with httpx.Client(base_url=server.url, timeout=30) as http:
        items = ok_json(http.get("/api/v1/executions", params={"origin": "mqtt"}))["items"]
    assert len(items) == 1


def test_state_events_in_order_and_butler_topics(
    start_server: StartServer, topics: str, probe: MqttProbe
) -> None:
    server = serve(start_server, topics, final_reply=False)
    probe.subscribe(f"{topics}/ex/#")
    for name in ("task_failure", "task_failure_full", "task_aborted", "task_aborted_full"):
        probe.subscribe(f"{topics}/{name}")
    reply = f"{topics}/reply"
    probe.subscribe(reply)
    for selector in ("quick", "fail", "slow", "quick"):
        probe.publish(f"{topics}/start", selector, response_topic=reply)
    started = [m.json()["executions"][0] for m in probe.wait_on(reply, 4)]
    slow = next(e for e in started if e["task_name"] == "Slow task")
    with httpx.Client(base_url=server.url, timeout=30) as http:
        wait_status(http, slow["id"], "started")
        abort(http, slow["id"])

    finals = {"Quick task": "finished_success", "Failing task": "finished_fail"}
    finals["Slow task"] = "aborted"

    def statuses(messages: list[Received]) -> dict[str, list[str]] | None:
        seen: dict[str, list[str]] = {}
        for m in messages:
            if m.topic.startswith(f"{topics}/ex/"):
                payload = m.json()
                # The topic carries task id, execution id and status.
                assert m.topic == (
                    f"{topics}/ex/{payload['task_id']}/{payload['execution_id']}/"
                    f"{payload['status']}"
                )
                seen.setdefault(payload["execution_id"], []).append(payload["status"])
        ended = all(seen.get(e["id"], [""])[-1] == finals[e["task_name"]] for e in started)
        return seen if ended else None

    seen = probe.wait_for(statuses, what="every execution's events to its end")
    for execution in started:
        history = seen[execution["id"]]
        assert history[0] == "queued" and history[1] == "started", history
        if execution["task_name"] == "Slow task":
            assert history[2:] == ["abort_initiated", "aborted"] or history[-1] == "aborted"
        else:
            assert history[2:] == [finals[execution["task_name"]]], history

    failure = probe.wait_on(f"{topics}/task_failure")[0]
    assert failure.payload == b"Failing task"
    full = probe.wait_on(f"{topics}/task_failure_full")[0].json()
    expected = {
        "hostName", "user", "taskName", "taskId", "appName", "appId", "logTimeStamp",
        "logLevel", "executionId", "logMessage", "qs_appTags", "qs_appCustomProperties",
        "qs_taskTags", "qs_taskCustomProperties", "qs_taskMetadata",
    }  # fmt: skip
    assert set(full) == expected
    failing = next(e for e in started if e["task_name"] == "Failing task")
    assert full["taskName"] == "Failing task" and full["executionId"] == failing["id"]
    assert full["hostName"] == "test-node" and full["qs_taskTags"] == ["std"]
    assert full["qs_taskMetadata"]["exit_code"] == 3
    assert probe.wait_on(f"{topics}/task_aborted")[0].payload == b"Slow task"
    aborted = probe.wait_on(f"{topics}/task_aborted_full")[0].json()
    assert set(aborted) == expected | {"qs_appMetadata"}
    assert aborted["executionId"] == slow["id"]
    # Successful runs are not published on Butler's topics (Butler does not either).
    assert len(probe.on(f"{topics}/task_failure")) == 1


def test_a_retained_start_message_is_not_replayed_at_subscribe(
    start_server: StartServer, topics: str, probe: MqttProbe
) -> None:
    start = f"{topics}/start"
    probe.client.publish(start, "quick", qos=1, retain=True).wait_for_publish(10)
    try:
        server = serve(start_server, topics, final_reply=False)
        reply = f"{topics}/reply"
        probe.subscribe(reply)
        # The broker would deliver the retained message at subscribe time, before this one.
        probe.publish(start, "sel-a", response_topic=reply)
        assert probe.wait_on(reply)[0].json()["started"] == 1
        with httpx.Client(base_url=server.url, timeout=30) as http:
            items = ok_json(http.get("/api/v1/executions", params={"origin": "mqtt"}))["items"]
        assert [i["task_name"] for i in items] == ["Selector task A"]
    finally:
        probe.client.publish(start, b"", qos=1, retain=True).wait_for_publish(10)
