"""A scripted stand-in for a Qlik Sense site's QRS, for the runner's unit tests (httpx
MockTransport): what the site answers to a start, what each poll of the execution session
shows, the results, the script log, and injected outages. The end-to-end tests use a real
second taskgate instance instead."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import httpx

TASK_ID = "6ca1d6a3-8b27-4d0b-9a0f-0c1e2d3f4a5b"
SESSION_ID = "5e55e55e-0000-4000-8000-00000000aaaa"
RESULT_ID = "7e577e57-0000-4000-8000-00000000bbbb"


def detail(message: str, second: int, kind: int = 2) -> dict[str, Any]:
    return {
        "detailsType": kind,
        "message": message,
        "detailCreatedDate": f"2026-12-02T01:00:{second:02d}.000Z",
    }


def result(status: int, *details: dict[str, Any], rid: str = RESULT_ID) -> dict[str, Any]:
    return {
        "id": rid,
        "executionID": SESSION_ID,
        "taskID": TASK_ID,
        "status": status,
        "details": list(details),
        "scriptLogAvailable": True,
    }


@dataclass
class FakeSite:
    start: tuple[int, Any] = (201, {"value": SESSION_ID})
    # What successive polls of the session show (its executionResult); then 404.
    polls: list[dict[str, Any]] = field(default_factory=list)
    # With `stop_ends` the session keeps showing the last poll until a stop arrives.
    stop_ends: bool = False
    stop_works: bool = True  # False: the stop is accepted, but the run goes on
    results: list[dict[str, Any]] = field(default_factory=list)
    script_log: str | None = None
    # request path fragment -> outages to serve first: "connect", "timeout" or an HTTP status
    outages: dict[str, list[str | int]] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)
    stopped: bool = False

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def paths(self) -> list[str]:
        return [f"{r.method} {r.url.path}" for r in self.requests]

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        for fragment, outages in self.outages.items():
            if fragment in path and outages:
                outage = outages.pop(0)
                if outage == "connect":
                    raise httpx.ConnectError("connection refused", request=request)
                if outage == "timeout":
                    raise httpx.ReadTimeout("timed out", request=request)
                return httpx.Response(int(outage), text="site trouble")
        if path.endswith("/start/synchronous"):
            status, body = self.start
            return httpx.Response(status, json=body) if body is not None else httpx.Response(404)
        if path.endswith("/stop"):
            self.stopped = self.stop_works
            return httpx.Response(204)
        if "/executionsession/" in path:
            return self._poll()
        if path.endswith("/executionresult/full"):
            return httpx.Response(200, json=self.results)
        if path.endswith("/scriptlogfile"):
            if self.script_log is None:
                return httpx.Response(404, text="Not found")
            return httpx.Response(200, json={"value": "ref-1"})
        if path.endswith("/download/reloadtask/ref-1/scriptlog.txt"):
            return httpx.Response(200, text=self.script_log or "")
        return httpx.Response(404, text=f"no route {path}")

    def _poll(self) -> httpx.Response:
        if self.stop_ends and not self.stopped:
            current = self.polls[0] if len(self.polls) == 1 else self.polls.pop(0)
            return httpx.Response(200, json={"id": SESSION_ID, "executionResult": current})
        if not self.polls:
            return httpx.Response(404, text="Not found")
        current = self.polls.pop(0)
        return httpx.Response(200, json={"id": SESSION_ID, "executionResult": current})


def query(request: httpx.Request) -> dict[str, list[str]]:
    return parse_qs(request.url.query.decode())


def body(request: httpx.Request) -> Any:
    return json.loads(request.content) if request.content else None
