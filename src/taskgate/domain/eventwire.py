"""An event as the JSON text servers on one database send each other (core/cluster.py).

Unlike `ExecutionEvent.to_payload` (what outward channels show), this keeps every field, so
the receiving server rebuilds the very event the sender published. Fields left at their
default are not sent: PostgreSQL caps a notification at 8000 bytes.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from typing import Any

from taskgate.domain.events import ExecutionEvent
from taskgate.domain.status import Status

# The bus's own numbering and the flag the receiver sets mean nothing to another server.
_LOCAL_ONLY = frozenset({"seq", "remote"})
_DATES = frozenset({"at", "started_at", "created_at"})
_NO_DEFAULT = object()
# (name, default) of every field sent, worked out once: this runs for every event.
_SENT = tuple(
    (f.name, _NO_DEFAULT if f.default is dataclasses.MISSING else f.default)
    for f in dataclasses.fields(ExecutionEvent)
    if f.name not in _LOCAL_ONLY
)


def event_fields(event: ExecutionEvent) -> dict[str, Any]:
    """The event's fields that differ from their defaults, as JSON values."""
    fields: dict[str, Any] = {}
    for name, default in _SENT:
        value = getattr(event, name)
        if value is default or value == default:
            continue
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, Status):
            value = value.value
        elif isinstance(value, tuple):
            value = list(value)
        fields[name] = value
    return fields


def event_from_fields(fields: dict[str, Any]) -> ExecutionEvent:
    """The event `event_fields` gave, marked as produced elsewhere."""
    values = dict(fields)
    values["status"] = Status(values["status"])
    for name in _DATES & values.keys():
        if values[name] is not None:
            values[name] = datetime.fromisoformat(values[name])
    for name in ("tags", "triggered_by"):
        if name in values:
            values[name] = tuple(values[name])
    return ExecutionEvent(**values, remote=True)


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
