"""Task definitions as the store keeps them, parsed once per distinct text.

Every start reads its task's row and every claim reads the execution's snapshot of the task;
validating a definition (`Task`, with the text rule walked over every nested model) costs
about as much as the rest of the claim. The same JSON text always gives the same `Task`, so
the text, read as it is stored (`spec_text`), is the key: a definition that changes is new
text and is parsed anew, whoever changed it (another server on the same database, too).
The parsed tasks are shared, so nothing may change one (nothing does: a new definition is a
new `Task`).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import sqlalchemy as sa

from taskgate.domain.tasks import Task

# Definitions kept parsed, the least recently used dropped first; a longer text is parsed
# every time (a workflow of many members: rare, and not worth the memory).
KEEP = 256
KEEP_TEXT_MAX = 32 * 1024


def spec_text(column: sa.ColumnElement[Any], name: str) -> sa.Label[str]:
    """The JSON column as the text it holds (CAST ... AS TEXT: PostgreSQL's driver would
    otherwise hand over a decoded dict)."""
    return sa.cast(column, sa.Text).label(name)


class _Parsed:
    def __init__(self) -> None:
        self.known: OrderedDict[Hashable, Task] = OrderedDict()

    def get(self, key: Hashable, text: str, parse: Callable[[], Task]) -> Task:
        task = self.known.get(key)
        if task is not None:
            self.known.move_to_end(key)
            return task
        task = parse()
        if len(text) <= KEEP_TEXT_MAX:
            self.known[key] = task
            if len(self.known) > KEEP:
                self.known.popitem(last=False)
        return task


_SNAPSHOTS = _Parsed()
_ROWS = _Parsed()


def task_of_snapshot(text: str) -> Task:
    """The task an execution's `task_spec` text describes (what the execution runs)."""
    return _SNAPSHOTS.get(text, text, lambda: Task.model_validate(json.loads(text)))


def task_of_row(text: str, columns: dict[str, Any]) -> Task:
    """A task row's definition (its `spec` text) with the row's own `columns` (id, source,
    times) added."""
    key = (text, *columns.items())
    return _ROWS.get(key, text, lambda: Task.model_validate({**json.loads(text), **columns}))
