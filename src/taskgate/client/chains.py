"""The client's chain rule calls: definitions and what each rule fired."""

from __future__ import annotations

from taskgate.client.transport import JSON, Transport, seg


class ChainCalls(Transport):
    def list_chains(self) -> list[JSON]:
        return self._items("/api/v1/chains")

    def get_chain(self, id: str) -> JSON:
        """One rule, with its open window (`open_window`) if an `all` rule has one."""
        result: JSON = self._request("GET", f"/api/v1/chains/{seg(id)}")
        return result

    def create_chain(self, spec: JSON) -> JSON:
        """`{"when": [{"task": "label:a"}], "start": "label:b", ...}` (see docs/chains.md)."""
        result: JSON = self._request("POST", "/api/v1/chains", json=spec)
        return result

    def put_chain(self, id: str, spec: JSON) -> JSON:
        """Replace (or create) the rule with this id, whole."""
        result: JSON = self._request("PUT", f"/api/v1/chains/{seg(id)}", json=spec)
        return result

    def delete_chain(self, id: str) -> None:
        self._request("DELETE", f"/api/v1/chains/{seg(id)}")

    def chain_firings(self, id: str, limit: int = 100) -> list[JSON]:
        """What the rule fired, newest first: the ends, the executions started, or why not."""
        return self._items(f"/api/v1/chains/{seg(id)}/firings", {"limit": limit})
