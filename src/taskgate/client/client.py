"""`TaskgateClient`: a thin, synchronous client of the native REST API (docs/api.md).

Every method returns the server's JSON as plain dicts and lists. Paged collections are
unwrapped where the method says so (`list_tasks`, `list_keys`, `audit` return the items).
"""

from __future__ import annotations

import json
import math
import os
import ssl
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import httpx
from httpx_sse import connect_sse

from taskgate.client.errors import TaskgateAPIError, TaskgateConnectionError
from taskgate.client.tls import ssl_context
from taskgate.domain.status import is_terminal

DEFAULT_URL = "http://127.0.0.1:8080"
MAX_WAIT = 3600  # the server answers a wait after at most this many seconds
RECONNECT_SECONDS = 1.0  # pause before the event stream is opened again
_TASK_PAGE = 500

_ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    413: "too_large",
    422: "invalid",
}

JSON = dict[str, Any]


def _seg(value: str) -> str:
    """One path segment, quoted (labels and names may hold any character)."""
    return quote(value, safe="")


def _kv_seg(value: str) -> str:
    """A namespace or key as one path segment; '.' and '..' stay names, not path steps."""
    if value in (".", ".."):
        return value.replace(".", "%2E")
    return _seg(value)


def _seconds(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _instant(value: str | datetime | None) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def _default_tls(url: str) -> ssl.SSLContext | bool:
    """Over HTTPS, the system's CAs or those of TASKGATE_CA_FILE (and TASKGATE_CLIENT_CERT)."""
    return ssl_context() if url.startswith("https:") else True


class TaskgateClient:
    """Client of one taskgate server.

    `url` defaults to `TASKGATE_URL` (else `http://127.0.0.1:8080`), `api_key` to
    `TASKGATE_API_KEY`. `timeout` is the time allowed for one ordinary request; requests that
    wait on the server side get that much on top of their wait. Over HTTPS the server is checked
    against the system's CAs, or the CA file in `TASKGATE_CA_FILE` (a client certificate from
    `TASKGATE_CLIENT_CERT`); `tls` (taskgate.client.tls.ssl_context) says otherwise.
    """

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        timeout: float = 30.0,
        *,
        transport: httpx.BaseTransport | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.url = (url or os.environ.get("TASKGATE_URL") or DEFAULT_URL).rstrip("/")
        key = api_key if api_key is not None else os.environ.get("TASKGATE_API_KEY")
        self.timeout = timeout
        headers = {"Accept": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self._http = httpx.Client(
            base_url=self.url,
            headers=headers,
            timeout=timeout,
            transport=transport,
            verify=tls if tls is not None else _default_tls(self.url),
        )

    # -- plumbing -------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        wait: float = 0.0,
    ) -> Any:
        """Send one request; return the decoded JSON (None for an empty answer).

        `wait` is how long the server may hold the answer back on purpose; the read timeout
        is extended by it.
        """
        query = {k: v for k, v in (params or {}).items() if v is not None}
        timeout = httpx.Timeout(self.timeout, read=self.timeout + wait)
        try:
            response = self._http.request(
                method, path, params=query, json=json, headers=headers, timeout=timeout
            )
        except httpx.TransportError as exc:
            raise TaskgateConnectionError(self.url, str(exc) or type(exc).__name__) from exc
        if response.status_code >= 400:
            raise _api_error(response)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise TaskgateAPIError(
                response.status_code, "bad_response", "the server's answer is not JSON"
            ) from exc

    # -- health ---------------------------------------------------------------------------

    def health(self) -> JSON:
        """`GET /healthz`: `{"status": "ok"}` while the server serves requests."""
        result: JSON = self._request("GET", "/healthz")
        return result

    def ready(self) -> JSON:
        """`GET /readyz`: `{"status": "ready"}`; a 503 (database down) raises."""
        result: JSON = self._request("GET", "/readyz")
        return result

    # -- tasks ----------------------------------------------------------------------------

    def list_tasks(self, tag: str | None = None, enabled: bool | None = None) -> list[JSON]:
        """All tasks (every page), optionally only those with `tag` / in `enabled` state."""
        items: list[JSON] = []
        flag = None if enabled is None else str(enabled).lower()
        while True:
            page = self._request(
                "GET",
                "/api/v1/tasks",
                params={"tag": tag, "enabled": flag, "limit": _TASK_PAGE, "offset": len(items)},
            )
            batch: list[JSON] = page.get("items", [])
            items.extend(batch)
            if not batch or len(items) >= int(page.get("total", 0)):
                return items

    def get_task(self, ref: str) -> JSON:
        """One task by id or label."""
        result: JSON = self._request("GET", f"/api/v1/tasks/{_seg(ref)}")
        return result

    def task_checks(self, ref: str) -> JSON:
        """A task's checks, its learned duration band and its deadline."""
        result: JSON = self._request("GET", f"/api/v1/tasks/{_seg(ref)}/checks")
        return result

    def create_task(self, spec: JSON) -> JSON:
        result: JSON = self._request("POST", "/api/v1/tasks", json=spec)
        return result

    def put_task(self, id: str, spec: JSON) -> JSON:
        """Replace (or create) the task with this id, whole."""
        result: JSON = self._request("PUT", f"/api/v1/tasks/{_seg(id)}", json=spec)
        return result

    def delete_task(self, ref: str) -> None:
        self._request("DELETE", f"/api/v1/tasks/{_seg(ref)}")

    # -- start ----------------------------------------------------------------------------

    def start(
        self,
        selectors: Sequence[str],
        params: dict[str, Any] | None = None,
        wait: float = 0,
        all_must_exist: bool = False,
        idempotency_key: str | None = None,
        checks: dict[str, Any] | None = None,
        origin: str | None = None,
    ) -> JSON:
        """`POST /api/v1/start`: the start result (per selector, plus the executions).

        `wait` (0-3600 s) makes the server answer only once every execution has ended or the
        time passed (`timed_out`). To wait longer, use `wait_execution` on each execution.
        `checks`: checks for these runs instead of each task's (docs/checks.md). `origin`:
        `cli` when the start is made for the taskgate command line (default `api`).
        """
        _check_wait(wait)
        body: dict[str, Any] = {
            "selectors": list(selectors),
            "params": params or {},
            "wait": _seconds(wait),
            "all_must_exist": all_must_exist,
        }
        if checks is not None:
            body["checks"] = checks
        if origin is not None:
            body["origin"] = origin
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        result: JSON = self._request("POST", "/api/v1/start", json=body, headers=headers, wait=wait)
        return result

    def start_task(self, ref: str, params: dict[str, Any] | None = None, wait: float = 0) -> JSON:
        """`POST /api/v1/tasks/{ref}/start`: start one task by id or label."""
        _check_wait(wait)
        body = {"params": params or {}, "wait": _seconds(wait)}
        result: JSON = self._request(
            "POST", f"/api/v1/tasks/{_seg(ref)}/start", json=body, wait=wait
        )
        return result

    def run_phases(
        self,
        phases: Sequence[Sequence[str] | Mapping[str, Any]],
        params: dict[str, Any] | None = None,
        wait: float = 0,
        *,
        on_failure: str = "stop",
        abort_siblings: bool = False,
        origin: str | None = None,
    ) -> JSON:
        """`POST /api/v1/workflows/run`: run phases of tasks as one workflow execution.

        Each phase is a list of selectors started together (or a phase object such as
        `{"members": [...], "max_parallel": 2}`); the next phase starts when every member of
        this one has ended. Answers the workflow's execution with its `phases` and `children`;
        with `wait` (0-3600 s), once it has ended or the time passed (`timed_out`).
        """
        _check_wait(wait)
        body = {
            "phases": [p if isinstance(p, Mapping) else list(p) for p in phases],
            "params": params or {},
            "wait": _seconds(wait),
            "on_failure": on_failure,
            "abort_siblings": abort_siblings,
        }
        if origin is not None:
            body["origin"] = origin
        result: JSON = self._request("POST", "/api/v1/workflows/run", json=body, wait=wait)
        return result

    def preview(self, selectors: Sequence[str]) -> JSON:
        """Which tasks the selectors name; starts nothing."""
        result: JSON = self._request("POST", "/api/v1/preview", json={"selectors": list(selectors)})
        return result

    # -- executions -----------------------------------------------------------------------

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
            "since": _instant(since),
            "until": _instant(until),
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
        result: JSON = self._request("GET", f"/api/v1/executions/{_seg(id)}")
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
                f"/api/v1/executions/{_seg(id)}/wait",
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
            f"/api/v1/executions/{_seg(id)}/log",
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
                        raise _api_error(source.response)
                    for sse in source.iter_sse():
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
        result: JSON = self._request("POST", f"/api/v1/executions/{_seg(id)}/abort")
        return result

    # -- schedules ------------------------------------------------------------------------

    def list_schedules(self, task: str | None = None, enabled: bool | None = None) -> list[JSON]:
        """All schedules (every page), optionally of one task / in one `enabled` state."""
        items: list[JSON] = []
        flag = None if enabled is None else str(enabled).lower()
        while True:
            page = self._request(
                "GET",
                "/api/v1/schedules",
                params={"task": task, "enabled": flag, "limit": 1000, "offset": len(items)},
            )
            batch: list[JSON] = page.get("items", [])
            items.extend(batch)
            if not batch or len(items) >= int(page.get("total", 0)):
                return items

    def get_schedule(self, id: str) -> JSON:
        result: JSON = self._request("GET", f"/api/v1/schedules/{_seg(id)}")
        return result

    def create_schedule(self, spec: JSON) -> JSON:
        """Create a schedule: `{"task": ..., "kind": "cron", "cron": "0 3 * * *", ...}`."""
        result: JSON = self._request("POST", "/api/v1/schedules", json=spec)
        return result

    def put_schedule(self, id: str, spec: JSON) -> JSON:
        """Replace (or create) the schedule with this id, whole."""
        result: JSON = self._request("PUT", f"/api/v1/schedules/{_seg(id)}", json=spec)
        return result

    def delete_schedule(self, id: str) -> None:
        self._request("DELETE", f"/api/v1/schedules/{_seg(id)}")

    def pause_schedule(self, id: str) -> JSON:
        result: JSON = self._request("POST", f"/api/v1/schedules/{_seg(id)}/pause")
        return result

    def resume_schedule(self, id: str) -> JSON:
        """Resume counting from now: slots during the pause are not made up."""
        result: JSON = self._request("POST", f"/api/v1/schedules/{_seg(id)}/resume")
        return result

    def next_fires(
        self, id: str, count: int = 10, after: str | datetime | None = None
    ) -> list[JSON]:
        """The next `count` fire times (`at`, `local`, `note`) after `after` (default now)."""
        items: list[JSON] = self._request(
            "GET",
            f"/api/v1/schedules/{_seg(id)}/next",
            params={"count": count, "after": _instant(after)},
        ).get("items", [])
        return items

    def schedule_history(self, id: str, limit: int = 100, before: int | None = None) -> list[JSON]:
        """Fire history, newest first; `before` pages back from an entry id."""
        items: list[JSON] = self._request(
            "GET",
            f"/api/v1/schedules/{_seg(id)}/history",
            params={"limit": limit, "before": before},
        ).get("items", [])
        return items

    # -- chain rules ----------------------------------------------------------------------

    def queues(self) -> JSON:
        """Per queue what waits and who listens; per worker what it runs and holds."""
        result: JSON = self._request("GET", "/api/v1/queues")
        return result

    def list_chains(self) -> list[JSON]:
        items: list[JSON] = self._request("GET", "/api/v1/chains").get("items", [])
        return items

    def get_chain(self, id: str) -> JSON:
        """One rule, with its open window (`open_window`) if an `all` rule has one."""
        result: JSON = self._request("GET", f"/api/v1/chains/{_seg(id)}")
        return result

    def create_chain(self, spec: JSON) -> JSON:
        """`{"when": [{"task": "label:a"}], "start": "label:b", ...}` (see docs/chains.md)."""
        result: JSON = self._request("POST", "/api/v1/chains", json=spec)
        return result

    def put_chain(self, id: str, spec: JSON) -> JSON:
        """Replace (or create) the rule with this id, whole."""
        result: JSON = self._request("PUT", f"/api/v1/chains/{_seg(id)}", json=spec)
        return result

    def delete_chain(self, id: str) -> None:
        self._request("DELETE", f"/api/v1/chains/{_seg(id)}")

    def chain_firings(self, id: str, limit: int = 100) -> list[JSON]:
        """What the rule fired, newest first: the ends, the executions started, or why not."""
        items: list[JSON] = self._request(
            "GET", f"/api/v1/chains/{_seg(id)}/firings", params={"limit": limit}
        ).get("items", [])
        return items

    # -- key-value store ------------------------------------------------------------------
    # These also work with a running execution's TASKGATE_TOKEN as `api_key`.

    def kv_namespaces(self) -> list[JSON]:
        """Every namespace with its number of live keys: `[{"namespace", "keys"}]`."""
        items: list[JSON] = self._request("GET", "/api/v1/kv").get("items", [])
        return items

    def kv_list(self, namespace: str) -> list[JSON]:
        """The live entries of a namespace (`key`, `value`, `expires_at`, `updated_at`)."""
        items: list[JSON] = self._request("GET", f"/api/v1/kv/{_kv_seg(namespace)}").get(
            "items", []
        )
        return items

    def kv_get(self, namespace: str, key: str) -> JSON:
        """One entry; a missing namespace or key raises TaskgateAPIError (404, `field`)."""
        result: JSON = self._request("GET", f"/api/v1/kv/{_kv_seg(namespace)}/{_kv_seg(key)}")
        return result

    def kv_value(self, namespace: str, key: str, default: str | None = None) -> str | None:
        """The value of a key, or `default` when the namespace or key does not exist."""
        try:
            value: str = self.kv_get(namespace, key)["value"]
        except TaskgateAPIError as exc:
            if exc.status_code == 404:
                return default
            raise
        return value

    def kv_set(self, namespace: str, key: str, value: str, ttl_ms: int | None = None) -> JSON:
        """Store a value; `ttl_ms` (milliseconds) makes it expire, None keeps it. The entry."""
        result: JSON = self._request(
            "PUT",
            f"/api/v1/kv/{_kv_seg(namespace)}/{_kv_seg(key)}",
            json={"value": value, "ttl_ms": ttl_ms},
        )
        return result

    def kv_delete(self, namespace: str, key: str) -> None:
        self._request("DELETE", f"/api/v1/kv/{_kv_seg(namespace)}/{_kv_seg(key)}")

    def kv_delete_namespace(self, namespace: str) -> None:
        """Delete a namespace with all its keys."""
        self._request("DELETE", f"/api/v1/kv/{_kv_seg(namespace)}")

    # -- keys and audit (admin) -----------------------------------------------------------

    def list_keys(self) -> list[JSON]:
        items: list[JSON] = self._request("GET", "/api/v1/keys").get("items", [])
        return items

    def create_key(
        self,
        name: str,
        role: str,
        expires_days: float | None = None,
        allowed_tasks: Sequence[str] | None = None,
    ) -> JSON:
        """Create a key; the answer holds `secret`, which the server never shows again."""
        body = {
            "name": name,
            "role": str(role),
            "expires_days": expires_days,
            "allowed_tasks": list(allowed_tasks) if allowed_tasks is not None else None,
        }
        result: JSON = self._request("POST", "/api/v1/keys", json=body)
        return result

    def revoke_key(self, ref: str) -> JSON:
        """Revoke a key by id or prefix; answers the revoked key."""
        result: JSON = self._request("DELETE", f"/api/v1/keys/{_seg(ref)}")
        return result

    def audit(self, limit: int = 100) -> list[JSON]:
        """The newest audit records."""
        items: list[JSON] = self._request("GET", "/api/v1/audit", params={"limit": limit}).get(
            "items", []
        )
        return items


@dataclass(frozen=True)
class ServerEvent:
    """One Server-Sent Event: `type` is `connected`, `execution` or `gap`."""

    type: str
    data: JSON
    id: str | None = None


def _check_wait(wait: float) -> None:
    if not 0 <= wait <= MAX_WAIT:
        raise ValueError(f"wait must be between 0 and {MAX_WAIT} seconds, got {wait}")


def _api_error(response: httpx.Response) -> TaskgateAPIError:
    status = response.status_code
    code = _ERROR_CODES.get(status, "server_error" if status >= 500 else f"http_{status}")
    message = response.reason_phrase or "error"
    field: str | None = None
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        if text:
            message = text[:500]
    else:
        if isinstance(body, dict):
            code = str(body.get("error") or code)
            message = str(body.get("message") or body.get("detail") or message)
            field = body.get("field")
        else:
            message = str(body)[:500]
    return TaskgateAPIError(status, code, message, field)
