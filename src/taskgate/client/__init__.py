"""Python client of the taskgate native REST API (`/api/v1`, see docs/api.md)."""

from taskgate.client.client import DEFAULT_URL, ServerEvent, TaskgateClient, is_terminal
from taskgate.client.errors import TaskgateAPIError, TaskgateClientError, TaskgateConnectionError

__all__ = [
    "DEFAULT_URL",
    "ServerEvent",
    "TaskgateAPIError",
    "TaskgateClient",
    "TaskgateClientError",
    "TaskgateConnectionError",
    "is_terminal",
]
