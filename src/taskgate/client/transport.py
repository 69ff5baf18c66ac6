"""The plumbing every part of the client shares: one HTTP connection, one request with its
error mapping, and the small encoders of paths and query values."""

from __future__ import annotations

import os
import ssl
from datetime import datetime
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import httpx

from taskgate.client.errors import TaskgateAPIError, TaskgateConnectionError
from taskgate.client.tls import ssl_context

DEFAULT_URL = "http://127.0.0.1:8080"
MAX_WAIT = 3600  # the server answers a wait after at most this many seconds

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


def seg(value: str) -> str:
    """One path segment, quoted (labels and names may hold any character)."""
    return quote(value, safe="")


def seconds(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def instant(value: str | datetime | None) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def check_wait(wait: float) -> None:
    if not 0 <= wait <= MAX_WAIT:
        raise ValueError(f"wait must be between 0 and {MAX_WAIT} seconds, got {wait}")


def _default_tls(url: str) -> ssl.SSLContext | bool:
    """Over HTTPS, the system's CAs or those of TASKGATE_CA_FILE (and TASKGATE_CLIENT_CERT)."""
    return ssl_context() if url.startswith("https:") else True


class Transport:
    """One server's connection; the base of every part of `TaskgateClient`."""

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
            raise api_error(response)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise TaskgateAPIError(
                response.status_code, "bad_response", "the server's answer is not JSON"
            ) from exc

    def _items(self, path: str, params: dict[str, Any] | None = None) -> list[JSON]:
        """`GET path`: the `items` of the answer (one page)."""
        items: list[JSON] = self._request("GET", path, params=params).get("items", [])
        return items

    def _every_page(self, path: str, params: dict[str, Any], page: int) -> list[JSON]:
        """`GET path` page after page (`limit`/`offset`) until `total` items were read."""
        items: list[JSON] = []
        while True:
            answer = self._request(
                "GET", path, params={**params, "limit": page, "offset": len(items)}
            )
            batch: list[JSON] = answer.get("items", [])
            items.extend(batch)
            if not batch or len(items) >= int(answer.get("total", 0)):
                return items


def api_error(response: httpx.Response) -> TaskgateAPIError:
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
