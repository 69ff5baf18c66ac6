"""Python client of the taskgate native REST API (`/api/v1`, see docs/api.md)."""

from taskgate.client.client import DEFAULT_URL, ServerEvent, TaskgateClient
from taskgate.client.errors import TaskgateAPIError, TaskgateClientError, TaskgateConnectionError
from taskgate.domain.status import is_terminal

__all__ = [
    "DEFAULT_URL",
    "ServerEvent",
    "TaskgateAPIError",
    "TaskgateClient",
    "TaskgateClientError",
    "TaskgateConnectionError",
    "is_terminal",
]
