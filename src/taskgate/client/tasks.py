"""The client's task calls: read, create, replace and delete task definitions."""

from __future__ import annotations

from taskgate.client.transport import JSON, Transport, seg

_TASK_PAGE = 500


class TaskCalls(Transport):
    def list_tasks(self, tag: str | None = None, enabled: bool | None = None) -> list[JSON]:
        """All tasks (every page), optionally only those with `tag` / in `enabled` state."""
        flag = None if enabled is None else str(enabled).lower()
        return self._every_page("/api/v1/tasks", {"tag": tag, "enabled": flag}, _TASK_PAGE)

    def get_task(self, ref: str) -> JSON:
        """One task by id or label."""
        result: JSON = self._request("GET", f"/api/v1/tasks/{seg(ref)}")
        return result

    def task_checks(self, ref: str) -> JSON:
        """A task's checks, its learned duration band and its deadline."""
        result: JSON = self._request("GET", f"/api/v1/tasks/{seg(ref)}/checks")
        return result

    def create_task(self, spec: JSON) -> JSON:
        result: JSON = self._request("POST", "/api/v1/tasks", json=spec)
        return result

    def put_task(self, id: str, spec: JSON) -> JSON:
        """Replace (or create) the task with this id, whole."""
        result: JSON = self._request("PUT", f"/api/v1/tasks/{seg(id)}", json=spec)
        return result

    def delete_task(self, ref: str) -> None:
        self._request("DELETE", f"/api/v1/tasks/{seg(ref)}")
