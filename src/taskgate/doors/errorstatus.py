"""How a door answers the core's refusals: each door keeps one table, error type -> status.

The domain's errors say what went wrong (not found, conflict, forbidden …), never how a wire
format says it; each door's table decides that, and a type the table does not name takes the
status of its nearest base class there (every table names TaskgateError, the catch-all).
"""

from __future__ import annotations

from collections.abc import Mapping

from taskgate.domain.errors import TaskgateError

ErrorStatuses = Mapping[type[TaskgateError], int]


def status_for(error: TaskgateError, table: ErrorStatuses) -> int:
    """The status `table` gives `error`'s type, or the nearest of its base classes."""
    for kind in type(error).__mro__:
        status = table.get(kind)
        if status is not None:
            return status
    return table[TaskgateError]
