"""What Butler's clients rely on besides the payloads: method override, 100-continue, ignored
DELETE bodies, enable flags and Fastify's 404, and the door's own security."""

from __future__ import annotations

import json
import re
import socket

import httpx

from tests.butler.conftest import demo_butler, demo_tasks
from tests.butler.test_kv import fastify_error
from tests.conftest import ServerProcess, StartServer
from tests.support import parse_secret, unique

APP1_ID = "e3b27f50-b1c0-4879-88fc-c7cdd9c1cf3e"


def test_post_with_method_override_reaches_put_and_delete(butler_server: ServerProcess) -> None:
    url = butler_server.url
    started = httpx.post(
        f"{url}/v4/reloadtask/{APP1_ID}/start",
        content=b"[]",
        headers={"Content-Type": "application/json", "X-HTTP-Method-Override": "PUT"},
    )
    assert started.status_code == 200
    assert started.json()["tasksId"]["started"][0]["taskId"] == APP1_ID

    ns = unique("ns")
    httpx.post(f"{url}/v4/keyvalues/{ns}", json={"key": "k", "value": "v"}).raise_for_status()
    # The Qlik REST connector may send its stored default body along: it is ignored.
    deleted = httpx.post(
        f"{url}/v4/keyvalues/{ns}/k",
        content=b"{this is not json",
        headers={"Content-Type": "application/json", "X-HTTP-Method-Override": "DELETE"},
    )
    assert deleted.status_code == 204
    dropped = httpx.post(f"{url}/v4/keyvalues/{ns}", headers={"X-HTTP-Method-Override": "DELETE"})
    assert dropped.status_code == 204
    assert ns not in httpx.get(f"{url}/v4/keyvaluesnamespaces").json()


def test_expect_100_continue(butler_server: ServerProcess) -> None:
    body = b"[]"
    head = (
        f"PUT /v4/reloadtask/{APP1_ID}/start HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{butler_server.port}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Expect: 100-continue\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", butler_server.port), timeout=30) as sock:
        sock.sendall(head)
        interim = sock.recv(4096)
        assert interim.startswith(b"HTTP/1.1 100 Continue"), interim
        sock.sendall(body)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    status_line, _, rest = reply.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 200 OK", reply
    payload = rest.split(b"\r\n\r\n", 1)[1]
    assert json.loads(payload)["tasksId"]["started"][0]["taskId"] == APP1_ID


def test_ping_and_enabled_endpoints(butler_server: ServerProcess) -> None:
    ping = httpx.get(f"{butler_server.url}/v4/butlerping")
    assert ping.json() == {"response": "Butler reporting for duty", "butlerVersion": "16.0.4"}
    enabled = httpx.get(f"{butler_server.url}/v4/configfile/endpointsenabled").json()
    assert enabled == [
        "senseStartTask",
        "keyValueStore",
        "getSchedule",
        "createNewSchedule",
        "deleteSchedule",
        "startSchedule",
        "stopSchedule",
        "getScheduleStatusAll",
        "butlerping",
        "apiListEnabledEndpoints",
    ]


def test_unknown_and_disabled_routes_answer_fastify_404(start_server: StartServer) -> None:
    butler = demo_butler(
        endpoints={
            "key_value_store": False,
            "butlerping": False,
            "scheduler": {"get_schedule": False},
        }
    )
    server = start_server({"butler": butler}, tasks=demo_tasks())
    missing = httpx.get(f"{server.url}/v4/keyvaluesnamespaces")
    assert missing.status_code == 404
    assert missing.text == (
        '{"message":"Route GET:/v4/keyvaluesnamespaces not found",'
        '"error":"Not Found","statusCode":404}'
    )
    wrong_method = httpx.get(f"{server.url}/v4/reloadtask/{APP1_ID}/start")
    assert wrong_method.json()["message"] == f"Route GET:/v4/reloadtask/{APP1_ID}/start not found"
    assert httpx.get(f"{server.url}/v4/filecopy").status_code == 404
    assert httpx.get(f"{server.url}/v4/configfile/endpointsenabled").json() == [
        "senseStartTask",
        "createNewSchedule",
        "deleteSchedule",
        "startSchedule",
        "stopSchedule",
        "getScheduleStatusAll",
        "apiListEnabledEndpoints",
    ]
    assert httpx.get(f"{server.url}/v4/schedules").status_code == 404
    # The start endpoint is still there.
    assert httpx.put(f"{server.url}/v4/reloadtask/{APP1_ID}/start", json=[]).status_code == 200


def test_a_switched_off_door_is_not_there(start_server: StartServer) -> None:
    server = start_server({"butler": demo_butler(enabled=False)}, tasks=demo_tasks())
    assert httpx.put(f"{server.url}/v4/reloadtask/{APP1_ID}/start", json=[]).status_code == 404
    assert httpx.get(f"{server.url}/v4/butlerping").status_code == 404


def test_callers_outside_the_allowed_networks_are_refused(start_server: StartServer) -> None:
    server = start_server({"butler": demo_butler(allow_from=["10.0.0.0/8"])}, tasks=demo_tasks())
    refused = httpx.put(f"{server.url}/v4/reloadtask/{APP1_ID}/start", json=[])
    fastify_error(refused, 403, "source address 127.0.0.1 is not allowed")


def test_an_api_key_can_be_required(start_server: StartServer) -> None:
    server = start_server({"auth": "keys", "butler": demo_butler(open_to=[])}, tasks=demo_tasks())
    operator = parse_secret(server.cli("keys", "create", "--name", "erp", "--role", "operator"))
    viewer = parse_secret(server.cli("keys", "create", "--name", "look", "--role", "viewer"))
    url = f"{server.url}/v4/reloadtask/{APP1_ID}/start"

    fastify_error(httpx.put(url, json=[]), 401, "this door needs an API key")
    fastify_error(
        httpx.put(url, json=[], headers={"X-API-Key": "tg_nope_nope"}), 401, "unknown API key"
    )
    denied = httpx.put(url, json=[], headers={"X-API-Key": viewer})
    assert denied.status_code == 403
    by_header = httpx.put(url, json=[], headers={"X-API-Key": operator})
    assert by_header.json()["tasksId"]["started"][0]["taskId"] == APP1_ID
    by_query = httpx.put(url, json=[], params={"apikey": operator})
    assert by_query.status_code == 200
    executions = server.client(headers={"Authorization": f"Bearer {operator}"}).get(
        "/api/v1/executions", params={"origin": "butler"}
    )
    assert {e["caller"] for e in executions.json()["items"]} == {"key:erp"}


def test_rate_limit_is_per_client_address(start_server: StartServer) -> None:
    server = start_server({"butler": demo_butler(rate_limit_per_minute=3)}, tasks=demo_tasks())
    answers = [httpx.get(f"{server.url}/v4/butlerping") for _ in range(4)]
    assert [a.status_code for a in answers[:3]] == [200, 200, 200]
    limited = answers[3]
    assert limited.status_code == 429
    assert re.fullmatch(r"Rate limit exceeded, retry in \d+ seconds", limited.json()["message"])
    assert int(limited.headers["retry-after"]) >= 1
    # The native API is not behind the Butler door's limit.
    assert httpx.get(f"{server.url}/healthz").status_code == 200
