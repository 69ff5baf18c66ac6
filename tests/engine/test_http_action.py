"""The `http` action against a small local server (httpx is imported when the action runs)."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from taskgate.engine.actions.http import HttpAction, HttpOutcome, run_http
from taskgate.engine.logcollector import LogCollector


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        sent = json.loads(self.rfile.read(length) or b"null")
        status = 418 if self.path == "/teapot" else 200
        body = json.dumps({"got": sent, "header": self.headers.get("X-Test")}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # quiet test output
        pass


@pytest.fixture
def base_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _run(action: HttpAction) -> tuple[HttpOutcome, str]:
    log = LogCollector(10_000)

    async def go() -> HttpOutcome:
        return await run_http(
            action,
            headers={"X-Test": "yes"},
            default_body={"n": 1},
            timeout=10,
            abort=asyncio.Event(),
            log=log,
        )

    return asyncio.run(go()), log.take()


def test_expected_status_completes_with_the_answer_as_result(base_url: str) -> None:
    outcome, log = _run(HttpAction(url=f"{base_url}/hook"))
    assert outcome.ok
    assert outcome.result == {
        "status_code": 200,
        "body": {"got": {"n": 1}, "header": "yes"},
    }
    assert "-> 200" in log


def test_unexpected_status_fails(base_url: str) -> None:
    outcome, _ = _run(HttpAction(url=f"{base_url}/teapot"))
    assert not outcome.ok
    assert outcome.reason == "completed"
    assert outcome.status_code == 418


def test_unreachable_server_fails_with_a_message() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    outcome, log = _run(HttpAction(url=f"http://127.0.0.1:{port}/x"))
    assert not outcome.ok
    assert outcome.reason == "failed"
    assert "request failed" in log
