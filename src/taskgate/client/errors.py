"""Errors the client raises: one root, one class for error answers, one for transport failures."""

from __future__ import annotations


class TaskgateClientError(Exception):
    """Root of every error raised by `taskgate.client`."""


class TaskgateAPIError(TaskgateClientError):
    """The server answered with a 4xx or 5xx status."""

    def __init__(
        self, status_code: int, error: str, message: str, field: str | None = None
    ) -> None:
        super().__init__(f"{status_code} {error}: {message}")
        self.status_code = status_code
        self.error = error
        self.message = message
        self.field = field


class TaskgateConnectionError(TaskgateClientError):
    """The server could not be reached, or the connection broke before an answer came."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot reach taskgate at {url}: {reason}")
        self.url = url
        self.reason = reason
