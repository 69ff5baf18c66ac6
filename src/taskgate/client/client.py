"""`TaskgateClient`: a thin, synchronous client of the native REST API (docs/api.md).

Every method returns the server's JSON as plain dicts and lists. Paged collections are
unwrapped where the method says so (`list_tasks`, `list_keys`, `audit` return the items).
The calls are grouped by resource, one module each (tasks.py, starts.py, executions.py,
schedules.py, chains.py, kv.py, keys.py) on one connection (transport.py).
"""

from __future__ import annotations

from taskgate.client.chains import ChainCalls
from taskgate.client.executions import ExecutionCalls, ServerEvent
from taskgate.client.keys import KeyCalls
from taskgate.client.kv import KvCalls
from taskgate.client.schedules import ScheduleCalls
from taskgate.client.starts import StartCalls
from taskgate.client.tasks import TaskCalls
from taskgate.client.transport import DEFAULT_URL, JSON

__all__ = ["DEFAULT_URL", "ServerEvent", "TaskgateClient"]


class TaskgateClient(
    TaskCalls, StartCalls, ExecutionCalls, ScheduleCalls, ChainCalls, KvCalls, KeyCalls
):
    """Client of one taskgate server.

    `url` defaults to `TASKGATE_URL` (else `http://127.0.0.1:8080`), `api_key` to
    `TASKGATE_API_KEY`. `timeout` is the time allowed for one ordinary request; requests that
    wait on the server side get that much on top of their wait. Over HTTPS the server is checked
    against the system's CAs, or the CA file in `TASKGATE_CA_FILE` (a client certificate from
    `TASKGATE_CLIENT_CERT`); `tls` (taskgate.client.tls.ssl_context) says otherwise.
    """

    # -- the server itself --------------------------------------------------------------------

    def health(self) -> JSON:
        """`GET /healthz`: `{"status": "ok"}` while the server serves requests."""
        result: JSON = self._request("GET", "/healthz")
        return result

    def ready(self) -> JSON:
        """`GET /readyz`: `{"status": "ready"}`; a 503 (database down) raises."""
        result: JSON = self._request("GET", "/readyz")
        return result

    def queues(self) -> JSON:
        """Per queue what waits and who listens; per worker what it runs and holds."""
        result: JSON = self._request("GET", "/api/v1/queues")
        return result
