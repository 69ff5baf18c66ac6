"""Webhooks against a real HTTP receiver on loopback: signature, filters, retries, redelivery,
and deliveries that survive a restart."""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tests.conftest import ServerProcess, StartServer, free_port
from tests.support import STANDARD_TASKS, error_json, ok_json, start_one, wait_execution, wait_until

SECRET = "a-secret-of-some-length"
FAST_RETRIES = {"webhook_delivery": {"first_retry_seconds": 0.2, "longest_retry_seconds": 1}}


class Receiver:
    """An HTTP server that records every POST; it answers `codes` in turn, then 200."""

    def __init__(self, port: int = 0, codes: tuple[int, ...] = ()) -> None:
        self.received: queue.Queue[tuple[dict[str, str], bytes]] = queue.Queue()
        answers = list(codes)
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.put(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(answers.pop(0) if answers else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def next(self, timeout: float = 30) -> tuple[dict[str, str], dict[str, Any]]:
        headers, body = self.next_raw(timeout)
        return headers, json.loads(body)

    def next_raw(self, timeout: float = 30) -> tuple[dict[str, str], bytes]:
        return self.received.get(timeout=timeout)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    made: list[Receiver] = []
    yield made
    for receiver in made:
        receiver.close()


def hook(server: ServerProcess, **fields: Any) -> dict[str, Any]:
    body = {"secret": SECRET, **fields}
    made: dict[str, Any] = ok_json(server.client().post("/api/v1/webhooks", json=body), 201)
    return made


def deliveries(server: ServerProcess, webhook_id: str) -> list[dict[str, Any]]:
    answer = ok_json(server.client().get(f"/api/v1/webhooks/{webhook_id}/deliveries"))
    items: list[dict[str, Any]] = answer["items"]
    return items


def test_matching_events_are_delivered_signed(
    start_server: StartServer, receivers: list[Receiver]
) -> None:
    receiver = Receiver()
    receivers.append(receiver)
    server = start_server(tasks=STANDARD_TASKS)
    made = hook(server, url=receiver.url, statuses=["finished_success"], tasks=["quick"])
    assert "secret" not in made
    client = server.client()
    wait_execution(client, start_one(client, "label:fail"))
    quick_id = start_one(client, "label:quick")
    wait_execution(client, quick_id)

    headers, raw = receiver.next_raw()
    payload = json.loads(raw)
    assert payload["execution_id"] == quick_id and payload["status"] == "finished_success"
    # The receiver's check, as docs/events.md shows it.
    fields = dict(part.split("=", 1) for part in headers["x-taskgate-signature"].split(","))
    expected = hmac.new(SECRET.encode(), f"{fields['t']}.".encode() + raw, hashlib.sha256)
    assert hmac.compare_digest(fields["v1"], expected.hexdigest())
    assert headers["x-taskgate-webhook"] == made["id"]
    [delivery] = wait_until(
        lambda: [d for d in deliveries(server, made["id"]) if d["state"] == "delivered"],
        what="delivery recorded as delivered",
    )
    assert str(delivery["id"]) == headers["x-taskgate-delivery"]
    assert delivery["attempts"] == 1 and delivery["last_status_code"] == 200
    assert receiver.received.empty()  # the failing task's events did not match


def test_a_failed_delivery_is_retried_then_redelivered_on_request(
    start_server: StartServer, receivers: list[Receiver]
) -> None:
    receiver = Receiver(codes=(500, 503))
    receivers.append(receiver)
    server = start_server(FAST_RETRIES, tasks=STANDARD_TASKS)
    made = hook(server, url=receiver.url, statuses=["finished_success"])
    client = server.client()
    wait_execution(client, start_one(client, "label:quick"))
    ids = {receiver.next()[0]["x-taskgate-delivery"] for _ in range(3)}
    assert len(ids) == 1  # one delivery, three attempts
    [delivery] = wait_until(
        lambda: [d for d in deliveries(server, made["id"]) if d["state"] == "delivered"],
        what="delivered after two failures",
    )
    assert delivery["attempts"] == 3

    again = ok_json(
        client.post(f"/api/v1/webhooks/{made['id']}/deliveries/{delivery['id']}/redeliver")
    )
    assert again["state"] == "pending" and again["attempts"] == 0
    headers, _ = receiver.next()
    assert headers["x-taskgate-delivery"] == str(delivery["id"])


def test_a_delivery_gives_up_after_its_attempts(
    start_server: StartServer, receivers: list[Receiver]
) -> None:
    receiver = Receiver(codes=(500, 500, 500))
    receivers.append(receiver)
    config = {"webhook_delivery": {**FAST_RETRIES["webhook_delivery"], "max_attempts": 2}}
    server = start_server(config, tasks=STANDARD_TASKS)
    made = hook(server, url=receiver.url, statuses=["finished_success"])
    client = server.client()
    wait_execution(client, start_one(client, "label:quick"))
    [delivery] = wait_until(
        lambda: [d for d in deliveries(server, made["id"]) if d["state"] == "failed"],
        what="delivery given up",
    )
    assert delivery["attempts"] == 2 and delivery["last_status_code"] == 500
    assert "HTTP 500" in delivery["last_error"]
    metrics = client.get("/metrics").text
    assert "taskgate_webhook_failed_attempts_total 2.0" in metrics


def test_deliveries_survive_a_restart(start_server: StartServer, receivers: list[Receiver]) -> None:
    port = free_port()
    config = {
        # The next attempt falls after the restart, not into the graceful stop: an attempt
        # that the stop cancels keeps its lease (2 x timeout + 5 s) in the database, and the
        # restarted server waits that long before it tries again.
        "webhook_delivery": {
            "first_retry_seconds": 2,
            "longest_retry_seconds": 2,
            "timeout_seconds": 2,
        },
        "webhooks": [
            {
                "name": "from config",
                "url": f"http://127.0.0.1:{port}/hook",
                "secret": SECRET,
                "statuses": ["finished_success"],
            }
        ],
    }
    server = start_server(config, tasks=STANDARD_TASKS)
    client = server.client()
    [made] = ok_json(client.get("/api/v1/webhooks"))["items"]
    assert made["source"] == "config"
    execution_id = start_one(client, "label:quick")
    wait_execution(client, execution_id)
    # Nobody listens yet: the delivery fails and waits for its next attempt.
    wait_until(
        lambda: [d for d in deliveries(server, made["id"]) if d["attempts"] >= 1],
        what="a failed attempt",
    )
    server.restart()
    receiver = Receiver(port=port)
    receivers.append(receiver)
    _, payload = receiver.next()
    assert payload["execution_id"] == execution_id


def test_bad_subscriptions_are_422(start_server: StartServer) -> None:
    server = start_server()
    client = server.client()
    answer = client.post("/api/v1/webhooks", json={"url": "ftp://x", "secret": SECRET})
    assert error_json(answer, 422, "invalid")["field"] == "body.url"
    short = client.post("/api/v1/webhooks", json={"url": "http://x", "secret": "short"})
    assert error_json(short, 422, "invalid")["field"] == "body.secret"
    status = client.post(
        "/api/v1/webhooks", json={"url": "http://x", "secret": SECRET, "statuses": ["done"]}
    )
    assert error_json(status, 422, "invalid")["field"] == "body.statuses.0"
    error_json(client.get("/api/v1/webhooks/nope/deliveries"), 404, "not_found")
    assert httpx.get(f"{server.url}/api/v1/webhooks/nope").status_code == 404
