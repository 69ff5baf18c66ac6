"""A small JSON API on a free loopback port for sequence tests, and a way to run a sequence.

The server records every request it answers; routes:
  POST /login                      {"token": "t-1"}
  GET  /items                      {"data": [3 items with id, state, href]}
  GET  /items/<n>                  {"id": n, "name": "item n"}
  GET  /users                      {"data": [users with jid, email, age, role]}
  *    /echo[...]                  {"method", "path", "headers", "body"} (any method)
  GET  /problem                    200, application/problem+json
  GET  /text                       text/plain
  GET  /raw                        no Content-Type at all
  GET  /status/<code>              that status (JSON body)
  GET  /flaky/<key>/<n>            503 the first n times for <key>, then 200
  GET  /slow                       answers only when the test ends (or after 10 s)
  GET  /redirect/<host>            302 to http://<host>/x
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from taskgate.domain.egress import EgressRule
from taskgate.domain.sequences import SequenceAction
from taskgate.domain.tasks import Task
from taskgate.engine.actions.contract import ActionContext, ActionOutcome, Resources, RunFiles
from taskgate.engine.actions.sequence import SequenceRunner
from taskgate.engine.logcollector import LogCollector

USERS = [
    {"jid": "urn:uuid:aaa-1", "email": "user@jaseci.com", "age": 30, "role": "user"},
    {"jid": "urn:uuid:bbb-2", "email": "admin@jaseci.com", "age": 70, "role": "admin"},
    {"jid": "urn:uuid:ccc-3", "email": "kid@jaseci.com", "age": 12, "role": "user"},
]


@dataclass
class ApiServer:
    base: str
    seen: list[dict[str, Any]] = field(default_factory=list)
    flaky: dict[str, int] = field(default_factory=dict)
    release: threading.Event = field(default_factory=threading.Event)


def _handler(api: ApiServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            record = {
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body,
            }
            api.seen.append(record)
            parts = self.path.split("?", 1)[0].strip("/").split("/")
            if parts[0] == "login":
                return self._json(200, {"token": "t-1"})
            if parts == ["items"]:
                items = [
                    {"id": n, "state": s, "href": f"{api.base}/items/{n}"}
                    for n, s in ((1, "open"), (2, "closed"), (3, "open"))
                ]
                return self._json(200, {"data": items})
            if parts[0] == "items":
                return self._json(200, {"id": int(parts[1]), "name": f"item {parts[1]}"})
            if parts[0] == "users":
                return self._json(200, {"data": USERS})
            if parts[0] == "echo":
                return self._json(200, record)
            if parts[0] == "problem":
                return self._json(200, {"title": "ok"}, "application/problem+json")
            if parts[0] == "text":
                return self._send(200, b"hello", "text/plain; charset=utf-8")
            if parts[0] == "raw":
                return self._send(200, b"raw bytes", None)
            if parts[0] == "status":
                return self._json(int(parts[1]), {"status": int(parts[1])})
            if parts[0] == "flaky":
                seen = api.flaky.get(parts[1], 0)
                api.flaky[parts[1]] = seen + 1
                if seen < int(parts[2]):
                    return self._json(503, {"busy": True})
                return self._json(200, {"tries": seen + 1})
            if parts[0] == "redirect":  # /redirect/<host>: off to that host
                self.send_response(302)
                self.send_header("Location", f"http://{parts[1]}/x")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            if parts[0] == "slow":
                api.release.wait(10)
                return self._json(200, {"late": True})
            return self._json(404, {"missing": self.path})

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_PURGE = _any

        def _json(self, status: int, body: Any, kind: str = "application/json") -> None:
            self._send(status, json.dumps(body).encode(), kind)

        def _send(self, status: int, data: bytes, kind: str | None) -> None:
            self.send_response(status)
            if kind:
                self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError):  # the client gave up (timeout tests)
                self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def serve_api() -> Iterator[ApiServer]:
    """Generator for a fixture: an ApiServer answering on 127.0.0.1."""
    api = ApiServer("")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(api))
    server.daemon_threads = True
    api.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        api.release.set()
        server.shutdown()
        server.server_close()


TASK = {
    "id": "00000000-0000-0000-0000-000000000001",
    "name": "seq",
    "created_at": "2026-01-01T00:00:00Z",
    "updated_at": "2026-01-01T00:00:00Z",
}


def run_sequence(
    body: dict[str, Any],
    tmp_path: Path,
    *,
    params: dict[str, Any] | None = None,
    allowed: list[str] | None = None,
    abort: asyncio.Event | None = None,
    timeout: float | None = None,
) -> tuple[ActionOutcome, str]:
    """Run a sequence action in this process, as the dispatcher would; (outcome, log)."""
    spec = SequenceAction.model_validate({"kind": "sequence", **body})
    task = Task.model_validate({**TASK, "action": spec.model_dump(by_alias=True)})
    log = LogCollector(1 << 20)
    runner = SequenceRunner(Resources(EgressRule.of(["127.0.0.1"] if allowed is None else allowed)))

    async def go() -> ActionOutcome:
        ctx = ActionContext(
            execution_id="e1",
            task=task,
            attempt=1,
            params=params or {},
            log=log,
            files=RunFiles.of(tmp_path, "e1"),
            abort=abort or asyncio.Event(),
            timeout=timeout,
            public_url="http://127.0.0.1:1",
            issue_token=lambda: "token",
            kill_grace=0.1,
        )
        return await runner.run(spec, ctx)

    outcome = asyncio.run(go())
    return outcome, log.take()
