"""The client's key-value calls. These also work with a running execution's TASKGATE_TOKEN
as `api_key`."""

from __future__ import annotations

from taskgate.client.errors import TaskgateAPIError
from taskgate.client.transport import JSON, Transport, seg


def _kv_seg(value: str) -> str:
    """A namespace or key as one path segment; '.' and '..' stay names, not path steps."""
    if value in (".", ".."):
        return value.replace(".", "%2E")
    return seg(value)


class KvCalls(Transport):
    def kv_namespaces(self) -> list[JSON]:
        """Every namespace with its number of live keys: `[{"namespace", "keys"}]`."""
        return self._items("/api/v1/kv")

    def kv_list(self, namespace: str) -> list[JSON]:
        """The live entries of a namespace (`key`, `value`, `expires_at`, `updated_at`)."""
        return self._items(f"/api/v1/kv/{_kv_seg(namespace)}")

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
