"""A task allow-list (an API key's, or a door's): the entries it may hold, the tasks it lets in.

Entries name tasks by id or label, or groups of them by `tag:NAME` or `property:NAME=VALUE`.
Every place that narrows a caller to some tasks (starting, scheduling, making keys, the MQTT
door's list) asks these two functions, so an entry means the same everywhere.
"""

from __future__ import annotations

from taskgate.domain.errors import InvalidInput
from taskgate.domain.selectors import normalize_task_id
from taskgate.domain.tasks import Task


def allow_entry(entry: str) -> str:
    """An entry as stored: an id (lower case), a label, `tag:NAME` or `property:NAME=VALUE`."""
    entry = entry.strip()
    kind, sep, rest = entry.partition(":")
    if sep and kind == "tag" and rest:
        return entry
    if sep and kind == "property" and "=" in rest and not rest.startswith("="):
        return entry
    if entry and not sep:
        return normalize_task_id(entry) or entry
    raise InvalidInput(
        f"allowed_tasks: {entry!r} is not an id, a label, tag:NAME or property:NAME=VALUE",
        field="allowed_tasks",
    )


def allows(allowed: frozenset[str] | None, task: Task) -> bool:
    """Whether `allowed` (entries as `allow_entry` stores them; None: no list) lets `task` in."""
    if allowed is None:
        return True
    return (
        task.key in allowed
        or (task.label is not None and task.label in allowed)
        or any(f"tag:{tag}" in allowed for tag in task.tags)
        or any(
            f"property:{name}={value}" in allowed
            for name, values in task.properties.items()
            for value in values
        )
    )
