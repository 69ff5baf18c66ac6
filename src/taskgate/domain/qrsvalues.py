"""What a QRS `filter` or `orderby` reads from an entity (a dict as the QRS door renders it):
the values a property path reaches, with keys matched case-insensitively, and the dates and
numbers written in them. See docs/qrs-filter.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

# A property path: names joined by dots (`operational.lastExecutionResult.status`).
PROPERTY_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*\Z")
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?\Z")
_DATE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,7})?)?)?"
    r"(?:Z|[+-][0-9]{2}:?[0-9]{2})?\Z"
)
# .NET's DateTime.MinValue as SQL Server stores it: QRS's "never set".
UNSET_DATE = datetime(1753, 1, 1, tzinfo=UTC)


@lru_cache(maxsize=4096)
def parse_date(text: str) -> datetime | None:
    """A QRS date string as an aware datetime (naive means UTC), or None if it is not one."""
    if not _DATE.match(text):
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def parse_number(text: str) -> int | float | None:
    if not _NUMBER.match(text):
        return None
    if "." in text:
        return float(text)
    try:
        return int(text)
    except ValueError:  # more digits than Python converts to int; infinity is close enough
        return float(text)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _lookup(obj: Mapping[str, Any], segment: str) -> Any:
    if segment in obj:
        return obj[segment]
    lowered = segment.lower()
    for key, value in obj.items():
        if isinstance(key, str) and key.lower() == lowered:
            return value
    return None


def _elements(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def path_values(entity: Mapping[str, Any], segments: Sequence[str]) -> list[Any]:
    """What a dotted path reaches: one value per list element when it walks through a list.

    An absent property (or one below a null or a scalar) reaches None, like a JSON null; an
    empty list reaches nothing, so no condition on it can hold.
    """
    current: list[Any] = [entity]
    for segment in segments:
        current = [
            _lookup(item, segment) if isinstance(item, Mapping) else None
            for value in current
            for item in _elements(value)
        ]
    return [item for value in current for item in _elements(value)]
