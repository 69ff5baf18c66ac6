"""The harness that starts servers, under what parallel runs do to it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

import tests.conftest
from tests.conftest import StartServer
from tests.support import ok_json


class _Ready(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"status": "ready"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def impostor() -> Iterator[int]:
    """A server that answers every GET with 200, as another run's taskgate would."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ready)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_a_server_whose_port_was_taken_starts_on_another(
    start_server: StartServer, impostor: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first port handed out is taken by the time the server binds it, and what holds it
    # answers /readyz: the harness must not take that for our server, nor fail the test.
    first = iter([impostor])
    real = tests.conftest.free_port
    monkeypatch.setattr(tests.conftest, "free_port", lambda: next(first, None) or real())
    server = start_server()
    assert server.port != impostor
    assert server.url.endswith(f":{server.port}")
    assert "address already in use" in server.log_text()
    with server.client() as client:
        assert "items" in ok_json(client.get("/api/v1/tasks"))  # taskgate, not the impostor
