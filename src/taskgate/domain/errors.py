"""One error root; every door renders these as its own wire format.

An error says what went wrong (`code`, a message, the field to blame); which status a wire
format answers it with is each door's table (taskgate.doors.errorstatus), not the domain's.
"""

from __future__ import annotations

from typing import Any


class TaskgateError(Exception):
    """Root of every error the core raises on purpose."""

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
    code = "invalid"


class NotFound(TaskgateError):
    code = "not_found"

    @classmethod
    def named(cls, what: str, ref: object) -> NotFound:
        """`<what> '<ref>' not found`, blaming the field `what`: how every lookup says it."""
        return cls(f"{what} {ref!r} not found", field=what)


class Conflict(TaskgateError):
    code = "conflict"


class Unauthorized(TaskgateError):
    code = "unauthorized"


class Forbidden(TaskgateError):
    code = "forbidden"


class TooManyRequests(TaskgateError):
    """A source that must wait `retry_after` seconds before it may try again."""

    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after = retry_after


class QueueFull(TooManyRequests):
    """A start refused because the executions waiting to run reached a bound: `bound` names
    the setting (`executor.max_queued`, or a task's `concurrency.max_queued`)."""

    code = "queue_full"

    def __init__(
        self, message: str, *, retry_after: int, bound: str, max_queued: int, task_id: str | None
    ) -> None:
        super().__init__(message, retry_after=retry_after, field=bound)
        self.bound = bound
        self.details = {"bound": bound, "max_queued": max_queued, "retry_after": retry_after}
        if task_id is not None:
            self.details["task_id"] = task_id


class ConfigError(TaskgateError):
    code = "config"
