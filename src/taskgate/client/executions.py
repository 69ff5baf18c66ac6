"""The client's execution calls: list, read, wait for, follow the log and the live event
stream of, and abort executions."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from httpx_sse import connect_sse

from taskgate.client.errors import TaskgateConnectionError
from taskgate.client.transport import JSON, MAX_WAIT, Transport, api_error, instant, seg
from taskgate.domain.status import is_terminal

RECONNECT_SECONDS = 1.0  # pause before the event stream is opened again


@dataclass(frozen=True)
class ServerEvent:
    """One Server-Sent Event: `type` is `connected`, `execution` or `gap`."""

    type: str
    data: JSON
    id: str | None = None


class ExecutionCalls(Transport):
    def list_executions(
        self,
        task: str | None = None,
        status: str | Sequence[str] | None = None,
        origin: str | None = None,
        since: str | datetime | None = None,
        until: str | datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
        caller: str | None = None,
    ) -> JSON:
        """One page, newest first: `{"items": [...], "next_cursor": str | None}`. `caller`:
        who started them, as executions record it (`key:NAME`, `chain:ID` ...)."""
        statuses = [status] if isinstance(status, str) else list(status or [])
        params: dict[str, Any] = {
            "task": task,
            "status": statuses or None,
            "origin": origin,
            "caller": caller,
            "since": instant(since),
            "until": instant(until),
            "limit": limit,
            "cursor": cursor,
        }
        result: JSON = self._request("GET", "/api/v1/executions", params=params)
        return result

    def iter_executions(
        self,
        task: str | None = None,
        status: str | Sequence[str] | None = None,
        origin: str | None = None,
        since: str | datetime | None = None,
        until: str | datetime | None = None,
        limit: int = 50,
        caller: str | None = None,
    ) -> Iterator[JSON]:
        """Every matching execution, newest first, following `next_cursor` (`limit` per page)."""
        cursor: str | None = None
        while True:
            page = self.list_executions(
                task, status, origin, since, until, limit, cursor, caller=caller
            )
            yield from page.get("items", [])
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def get_execution(self, id: str) -> JSON:
        """One execution, with its attempts."""
        result: JSON = self._request("GET", f"/api/v1/executions/{seg(id)}")
        return result

    def wait_execution(self, id: str, timeout: float | None = 30.0) -> JSON:
        """Wait until the execution has ended, at most `timeout` seconds (None: no limit).

        The server holds each call for at most an hour; this loops until the execution ends
        or the caller's time is up. Returns the execution with attempts; `timed_out` is true
        when it had not ended. Timeouts are sent rounded up to whole seconds.
        """
        deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
        while True:
            left = MAX_WAIT if deadline is None else max(0.0, deadline - time.monotonic())
            seconds = min(MAX_WAIT, math.ceil(left))
            answer: JSON = self._request(
                "GET",
                f"/api/v1/executions/{seg(id)}/wait",
                params={"timeout": seconds},
                wait=seconds,
            )
            if not answer.get("timed_out") or is_terminal(answer.get("status")):
                return answer
            if deadline is not None and time.monotonic() >= deadline:
                return answer

    def read_log(self, id: str, offset: int = 0, limit: int = 65536) -> JSON:
        """One piece of the log: `{"offset", "next_offset", "data", "complete"}`."""
        result: JSON = self._request(
            "GET",
            f"/api/v1/executions/{seg(id)}/log",
            params={"offset": offset, "limit": limit},
        )
        return result

    def follow_log(self, id: str, poll_interval: float = 0.5, offset: int = 0) -> Iterator[str]:
        """Yield the log text as it grows, until the execution has ended and all was read."""
        while True:
            piece = self.read_log(id, offset=offset)
            data: str = piece.get("data") or ""
            if data:
                yield data
            offset = int(piece.get("next_offset", offset + len(data)))
            if piece.get("complete"):
                return
            if not data:
                time.sleep(poll_interval)

    def events(
        self,
        *,
        task: Sequence[str] = (),
        tag: Sequence[str] = (),
        execution: Sequence[str] = (),
        status: Sequence[str] = (),
        last_event_id: str | None = None,
        kind: Sequence[str] = (),
        workflow: Sequence[str] = (),
    ) -> Iterator[ServerEvent]:
        """The live stream (`GET /api/v1/events`), one event at a time, for as long as the
        caller reads. The first event is `connected`: from then on nothing is missed. A broken
        connection is opened again, resuming after the last event received. `workflow`: a
        workflow's execution ids, for their events and their members'."""
        params = {"task": list(task), "tag": list(tag), "execution": list(execution)}
        params["status"] = list(status)
        if kind:
            params["kind"] = list(kind)
        if workflow:
            params["workflow"] = list(workflow)
        while True:
            headers = {"Accept": "text/event-stream"}
            if last_event_id:
                headers["Last-Event-ID"] = last_event_id
            timeout = httpx.Timeout(self.timeout, read=None)
            try:
                with connect_sse(
                    self._http,
                    "GET",
                    "/api/v1/events",
                    params=params,
                    headers=headers,
                    timeout=timeout,
                ) as source:
                    if source.response.status_code >= 400:
                        source.response.read()
                        raise api_error(source.response)
                    for sse in source.iter_sse():
                        if not sse.data:
                            # No event (the SSE spec: nothing is dispatched without data);
                            # httpx-sse makes one of a keepalive comment once an id was seen
                            # (florimondmanca/httpx-sse#35), and parsing it ended the stream.
                            continue
                        event = ServerEvent(sse.event, json.loads(sse.data), sse.id or None)
                        if event.id:
                            last_event_id = event.id
                        yield event
            except httpx.TransportError as exc:
                if last_event_id is None:
                    raise TaskgateConnectionError(self.url, str(exc) or type(exc).__name__) from exc
            time.sleep(RECONNECT_SECONDS)

    def abort_execution(self, id: str) -> JSON:
        """Ask the execution to stop; answers it (`abort_initiated`, or unchanged if ended)."""
        result: JSON = self._request("POST", f"/api/v1/executions/{seg(id)}/abort")
        return result
