"""The client's schedule calls: definitions, pause and resume, next fires and history."""

from __future__ import annotations

from datetime import datetime

from taskgate.client.transport import JSON, Transport, instant, seg

_SCHEDULE_PAGE = 1000


class ScheduleCalls(Transport):
    def list_schedules(self, task: str | None = None, enabled: bool | None = None) -> list[JSON]:
        """All schedules (every page), optionally of one task / in one `enabled` state."""
        flag = None if enabled is None else str(enabled).lower()
        return self._every_page(
            "/api/v1/schedules", {"task": task, "enabled": flag}, _SCHEDULE_PAGE
        )

    def get_schedule(self, id: str) -> JSON:
        result: JSON = self._request("GET", f"/api/v1/schedules/{seg(id)}")
        return result

    def create_schedule(self, spec: JSON) -> JSON:
        """Create a schedule: `{"task": ..., "kind": "cron", "cron": "0 3 * * *", ...}`."""
        result: JSON = self._request("POST", "/api/v1/schedules", json=spec)
        return result

    def put_schedule(self, id: str, spec: JSON) -> JSON:
        """Replace (or create) the schedule with this id, whole."""
        result: JSON = self._request("PUT", f"/api/v1/schedules/{seg(id)}", json=spec)
        return result

    def delete_schedule(self, id: str) -> None:
        self._request("DELETE", f"/api/v1/schedules/{seg(id)}")

    def pause_schedule(self, id: str) -> JSON:
        result: JSON = self._request("POST", f"/api/v1/schedules/{seg(id)}/pause")
        return result

    def resume_schedule(self, id: str) -> JSON:
        """Resume counting from now: slots during the pause are not made up."""
        result: JSON = self._request("POST", f"/api/v1/schedules/{seg(id)}/resume")
        return result

    def next_fires(
        self, id: str, count: int = 10, after: str | datetime | None = None
    ) -> list[JSON]:
        """The next `count` fire times (`at`, `local`, `note`) after `after` (default now)."""
        return self._items(
            f"/api/v1/schedules/{seg(id)}/next", {"count": count, "after": instant(after)}
        )

    def schedule_history(self, id: str, limit: int = 100, before: int | None = None) -> list[JSON]:
        """Fire history, newest first; `before` pages back from an entry id."""
        return self._items(
            f"/api/v1/schedules/{seg(id)}/history", {"limit": limit, "before": before}
        )
