"""QRS's wire format: its JSON, its dates, its sentinels and its error answers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from starlette.responses import Response

from taskgate.domain.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    QueueFull,
    TaskgateError,
    TooManyRequests,
    Unauthorized,
)
from taskgate.doors.errorstatus import ErrorStatuses, status_for

JSON_TYPE = "application/json; charset=utf-8"
# .NET's DateTime.MinValue as QRS writes an unset date; clients test for it.
NEVER = "1753-01-01T00:00:00.000Z"
XSRF_MESSAGE = "XSRF prevention check failed. Possible XSRF discovered."


class QrsError(Exception):
    """A refused request: `status`, a message in QRS's words, the field it is about, and
    headers to send with it (Retry-After)."""

    def __init__(
        self,
        status: int,
        message: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.headers = headers


# QRS's status for each refusal of the core; bad input (a filter it cannot parse, a bad body)
# is a 400 there.
STATUS_OF_CORE_ERROR: ErrorStatuses = {
    TaskgateError: 400,
    InvalidInput: 400,
    NotFound: 404,
    Conflict: 409,
    Unauthorized: 401,
    Forbidden: 403,
    TooManyRequests: 429,
    # The real QRS has no rate limit; what stands in front of it (the Qlik proxy, IIS-like
    # hosts) says "busy, come back" as 503 with Retry-After, which HTTP clients retry.
    QueueFull: 503,
}


def core_refusal(exc: TaskgateError) -> QrsError:
    """The core's refusal as QRS answers it."""
    headers = None
    if isinstance(exc, TooManyRequests):
        headers = {"Retry-After": str(exc.retry_after)}
    return QrsError(status_for(exc, STATUS_OF_CORE_ERROR), exc.message, exc.field, headers)


def qrs_date(value: datetime | None) -> str:
    """`2017-01-16T16:12:18.152Z`: UTC, milliseconds, or the 1753 sentinel when unset."""
    if value is None:
        return NEVER
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def json_response(value: Any, status: int = 200) -> Response:
    body = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return Response(body, status, media_type=JSON_TYPE)


def error_body(exc: QrsError) -> bytes:
    body: dict[str, Any] = {"message": exc.message}
    if exc.field:
        body["field"] = exc.field
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def refusal_body(status: int, message: str, field: str) -> bytes:
    """A refusal made before the door (doors/originguard.py), as QRS answers errors."""
    return error_body(QrsError(status, message, field))


def error_response(exc: QrsError) -> Response:
    return Response(error_body(exc), exc.status, headers=exc.headers, media_type=JSON_TYPE)


def xsrf_refusal() -> Response:
    # The exact text QRS answers, as plain text: clients and their docs quote it.
    return Response(XSRF_MESSAGE, 403, media_type="text/plain; charset=utf-8")
