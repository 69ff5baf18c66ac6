"""The client's admin calls: API keys and the audit log."""

from __future__ import annotations

from collections.abc import Sequence

from taskgate.client.transport import JSON, Transport, seg


class KeyCalls(Transport):
    def list_keys(self) -> list[JSON]:
        return self._items("/api/v1/keys")

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
        result: JSON = self._request("DELETE", f"/api/v1/keys/{seg(ref)}")
        return result

    def audit(self, limit: int = 100) -> list[JSON]:
        """The newest audit records."""
        return self._items("/api/v1/audit", {"limit": limit})
