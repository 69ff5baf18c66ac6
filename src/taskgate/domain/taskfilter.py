"""Which tasks a list shows: the filters of the dashboard's task list, in one rule."""

from __future__ import annotations

from dataclasses import dataclass

from taskgate.domain.tasks import Task


@dataclass(frozen=True)
class TaskFilter:
    text: str = ""  # in the name, label or id (any case)
    tag: str = ""
    # A custom property, `name` (any value) or `name=value`.
    prop: str = ""
    kind: str = ""  # the action kind: command, http, ...
    enabled: bool | None = None

    def matches(self, task: Task) -> bool:
        text = self.text.strip().lower()
        if text and not any(
            text in part.lower() for part in (task.name, task.label or "", task.key)
        ):
            return False
        if self.tag and self.tag not in task.tags:
            return False
        if self.prop:
            name, has_value, value = self.prop.partition("=")
            values = task.properties.get(name.strip())
            if values is None or (has_value and value.strip() not in values):
                return False
        if self.kind and task.action.kind != self.kind:
            return False
        return self.enabled is None or task.enabled is self.enabled
