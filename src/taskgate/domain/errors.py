"""One error root; every door renders these as its own wire format."""

from __future__ import annotations

from typing import Any


class TaskgateError(Exception):
    """Root of every error the core raises on purpose."""

    http_status = 400
    code = "bad_request"

    def __init__(self, message: str, *, field: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        if self.details:
            body["details"] = self.details
        return body


class InvalidInput(TaskgateError):
    http_status = 422
    code = "invalid"


class NotFound(TaskgateError):
    http_status = 404
    code = "not_found"


class Conflict(TaskgateError):
    http_status = 409
    code = "conflict"


class Unauthorized(TaskgateError):
    http_status = 401
    code = "unauthorized"


class Forbidden(TaskgateError):
    http_status = 403
    code = "forbidden"


class ConfigError(TaskgateError):
    code = "config"
