"""The QRS `?orderby=` language: `<path> [asc|desc], ...`, parsed and applied to QRS-shaped
JSON. Missing values, nulls and the "unset" date sort first. See docs/qrs-filter.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from taskgate.domain.qrsfilter import MAX_FILTER_LENGTH, FilterError
from taskgate.domain.qrsvalues import (
    PROPERTY_PATH,
    UNSET_DATE,
    is_number,
    parse_date,
    path_values,
)

ORDERBY_PREFIX = "Cannot parse the orderby expression: "


def _orderby_error(reason: str) -> FilterError:
    return FilterError(ORDERBY_PREFIX + reason, field="orderby")


@dataclass(frozen=True)
class SortKey:
    path: tuple[str, ...]
    descending: bool = False


def _sort_value(item: Mapping[str, Any], path: tuple[str, ...]) -> tuple[Any, ...]:
    # Missing, null and the 1753 "unset" date rank first; then one rank per type so that
    # mixed types never compare with each other.
    values = [v for v in path_values(item, path) if v is not None]
    if not values:
        return (0,)
    value = values[0]
    if isinstance(value, bool):
        return (1, 0, value)
    if is_number(value):
        return (1, 1, value)
    if isinstance(value, str):
        date = parse_date(value)
        if date is not None:
            return (0,) if date <= UNSET_DATE else (1, 2, date)
        return (1, 3, value.lower())
    return (1, 4)


def _sort_key(path: tuple[str, ...]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    return lambda item: _sort_value(item, path)


@dataclass(frozen=True)
class OrderBy:
    keys: tuple[SortKey, ...]

    def sort(self, items: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        ordered = list(items)
        # Stable sorts applied from the last key to the first give the multi-key order.
        for key in reversed(self.keys):
            ordered.sort(key=_sort_key(key.path), reverse=key.descending)
        return ordered


def parse_orderby(text: str) -> OrderBy:
    """Parse `<path> [asc|desc], ...`. Empty or blank text keeps the given order."""
    if len(text) > MAX_FILTER_LENGTH:
        raise _orderby_error(f"longer than {MAX_FILTER_LENGTH} characters")
    if not text.strip():
        return OrderBy(())
    keys: list[SortKey] = []
    for number, item in enumerate(text.split(","), start=1):
        words = item.split()
        if not words:
            raise _orderby_error(f"sort key {number} is empty")
        if not PROPERTY_PATH.match(words[0]):
            raise _orderby_error(f"invalid property name {words[0]!r} in sort key {number}")
        if len(words) > 2:
            raise _orderby_error(f"unexpected {words[2]!r} in sort key {number}")
        direction = words[1].lower() if len(words) == 2 else "asc"
        if direction not in ("asc", "desc"):
            raise _orderby_error(
                f"unknown direction {words[1]!r} in sort key {number}, expected asc or desc"
            )
        keys.append(SortKey(tuple(words[0].split(".")), direction == "desc"))
    return OrderBy(tuple(keys))
