"""taskgate's tasks and executions rendered as QRS entities (camelCase, full or condensed)."""

from __future__ import annotations

import math
import uuid
from datetime import datetime
from typing import Any

from taskgate.domain.executions import Execution
from taskgate.domain.qrsenums import EMPTY_GUID
from taskgate.domain.status import qrs_abort_reason
from taskgate.domain.tasks import Task
from taskgate.doors.qrs.results import ResultView, qrs_code, results_of
from taskgate.doors.qrs.wire import NEVER, qrs_date

_NAMESPACE = uuid.UUID("8e4b2f1a-3c5d-4e6f-8a9b-0c1d2e3f4a5b")
MODIFIED_BY = "taskgate"
# What QRS shows as a task's session timeout when taskgate's task has none.
DEFAULT_TIMEOUT_MINUTES = 1440
PRIVILEGES = ["create", "read", "update", "delete", "execute"]


def stable_id(*parts: str) -> str:
    """A GUID for things taskgate does not store with one (tags, property values, nodes)."""
    return str(uuid.uuid5(_NAMESPACE, "\x1f".join(parts)))


class Renderer:
    """Renders entities; `privileges` is QRS's `?privileges=true`."""

    def __init__(self, *, privileges: bool = False) -> None:
        self.privileges = PRIVILEGES if privileges else None

    # -- tasks -----------------------------------------------------------------------------
    def task(
        self,
        task: Task,
        last: Execution | None,
        next_slot: datetime | None,
        *,
        full: bool,
    ) -> dict[str, Any]:
        timeout = (
            math.ceil(task.timeout / 60) if task.timeout is not None else DEFAULT_TIMEOUT_MINUTES
        )
        operational = {
            "id": stable_id("operational", task.key),
            "lastExecutionResult": self._last_result(task, last),
            "nextExecution": qrs_date(next_slot),
            "privileges": self.privileges,
        }
        condensed = {
            "id": task.key,
            "privileges": self.privileges,
            "name": task.name,
            "taskType": 0,
            "enabled": task.enabled,
            "taskSessionTimeout": timeout,
            "maxRetries": task.retries.count,
            "operational": operational,
        }
        if not full:
            return condensed
        return {
            "id": task.key,
            "createdDate": qrs_date(task.created_at),
            "modifiedDate": qrs_date(task.updated_at),
            "modifiedByUserName": MODIFIED_BY,
            "customProperties": self._custom_properties(task),
            "app": self.app(task),
            "isManuallyTriggered": next_slot is None,
            "operational": operational,
            "name": task.name,
            "taskType": 0,
            "enabled": task.enabled,
            "taskSessionTimeout": timeout,
            "maxRetries": task.retries.count,
            "tags": [
                {"id": stable_id("tag", tag), "name": tag, "privileges": self.privileges}
                for tag in task.tags
            ],
            "isPartialReload": False,
            "privileges": self.privileges,
            "schemaPath": "ReloadTask",
        }

    def task_ref(self, task_id: str, name: str) -> dict[str, Any]:
        return {"id": task_id, "name": name, "taskType": 0, "privileges": self.privileges}

    def app(self, task: Task) -> dict[str, Any] | None:
        """The Qlik Sense app a task reloads, when taskgate knows it."""
        app_id = getattr(task.action, "app_id", None)
        if not app_id:
            return None
        return {
            "id": app_id,
            "name": getattr(task.action, "app_name", None) or "",
            "privileges": self.privileges,
        }

    def _custom_properties(self, task: Task) -> list[dict[str, Any]]:
        return [
            {
                "id": stable_id("property-value", task.key, name, value),
                "createdDate": qrs_date(task.created_at),
                "modifiedDate": qrs_date(task.updated_at),
                "modifiedByUserName": MODIFIED_BY,
                "value": value,
                "definition": {
                    "id": stable_id("property", name),
                    "name": name,
                    "valueType": "Text",
                    "choiceValues": values,
                    "privileges": self.privileges,
                },
                "privileges": self.privileges,
                "schemaPath": "CustomPropertyValue",
            }
            for name, values in task.properties.items()
            for value in values
        ]

    def _last_result(self, task: Task, last: Execution | None) -> dict[str, Any]:
        if last is None:
            return {
                "id": stable_id("never-run", task.key),
                "privileges": self.privileges,
                "executingNodeName": "",
                "status": 0,
                "startTime": NEVER,
                "stopTime": NEVER,
                "duration": 0,
                "fileReferenceID": EMPTY_GUID,
                "scriptLogAvailable": False,
                "details": [],
                "scriptLogLocation": "",
                "scriptLogSize": 0,
            }
        return self.result(results_of(last)[-1], full=False)

    # -- executions ------------------------------------------------------------------------
    def result(self, view: ResultView, *, full: bool) -> dict[str, Any]:
        execution = view.execution
        ended = view.finished_at is not None
        log_size = execution.log_size if ended else 0
        condensed: dict[str, Any] = {
            "id": view.id,
            "privileges": self.privileges,
            "executingNodeName": view.node,
            "status": qrs_code(view.status),
            "startTime": qrs_date(view.started_at),
            "stopTime": qrs_date(view.finished_at),
            "duration": view.duration_ms,
            "fileReferenceID": EMPTY_GUID,
            "scriptLogAvailable": ended and log_size > 0,
            "details": [self._detail(view, i, full=full) for i in range(len(view.details))],
            "scriptLogLocation": "",
            "scriptLogSize": log_size,
        }
        if not full:
            return condensed
        last_change = view.details[-1].at if view.details else execution.created_at
        return {
            **condensed,
            "createdDate": qrs_date(view.started_at or execution.created_at),
            "modifiedDate": qrs_date(last_change),
            "modifiedByUserName": MODIFIED_BY,
            "schemaPath": "ExecutionResult",
            "taskID": execution.task_id,
            "executionID": execution.id,
            "appID": EMPTY_GUID,
            "executingNodeID": stable_id("node", view.node) if view.node else EMPTY_GUID,
        }

    def _detail(self, view: ResultView, index: int, *, full: bool) -> dict[str, Any]:
        detail = view.details[index]
        rendered: dict[str, Any] = {
            "id": stable_id("detail", view.id, str(index)),
            "privileges": self.privileges,
            "detailsType": int(detail.kind),
            "message": detail.message,
            "detailCreatedDate": qrs_date(detail.at),
        }
        if full:
            rendered.update(
                {
                    "createdDate": qrs_date(detail.at),
                    "modifiedDate": qrs_date(detail.at),
                    "modifiedByUserName": MODIFIED_BY,
                    "schemaPath": "ExecutionResultDetail",
                }
            )
        return rendered

    def session(self, execution: Execution, task: Task | None, *, full: bool) -> dict[str, Any]:
        current = results_of(execution)[-1]
        node = execution.node or ""
        condensed: dict[str, Any] = {
            "id": execution.id,
            "privileges": self.privileges,
            "executingNode": {"id": stable_id("node", node), "name": node} if node else None,
            "executionResult": self.result(current, full=False),
            "abortAt": NEVER,
            "abortReason": qrs_abort_reason(execution.status, execution.end_reason),
            "reloadTask": self.task_ref(execution.task_id, execution.task_name),
            "userSyncTask": None,
            "externalProgramTask": None,
        }
        if not full:
            return condensed
        return {
            **condensed,
            "createdDate": qrs_date(execution.created_at),
            "modifiedDate": qrs_date(current.details[-1].at if current.details else None),
            "modifiedByUserName": MODIFIED_BY,
            "schemaPath": "ExecutionSession",
            "retries": max(execution.attempt_count - 1, 0),
            "app": self.app(task) if task is not None else None,
            "user": execution.caller,
        }
