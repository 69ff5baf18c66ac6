"""The contract of a sequence's `TASK` steps with the server (no store here: action modules
are imported by the config loader, which must stay free of it).

A TASK step parks the sequence (`Park`, as a workflow waits on its members): the execution
holds no slot and no lease while the task it started runs. `start` runs in the transaction
that parks it; when the task ends, an end hook (engine/sequence_resume.py) puts the sequence
back in the queue with the task's outcome in its state, and the next attempt resumes after
the TASK step.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from taskgate.domain.endings import AfterCommit

if TYPE_CHECKING:  # typing only: the config imports this module, the CLI need not load SQLAlchemy
    from sqlalchemy import Connection

# The key of a sequence's parked state in `executions.state`.
STATE_KEY = "sequence"


@dataclass(frozen=True)
class TaskStart:
    parent_id: str
    selector: str
    params: dict[str, Any]


@dataclass(frozen=True)
class TaskSteps:
    """What the server hands the sequence runner for TASK steps."""

    # Start the step's task as a child of the parked sequence, in the park's transaction;
    # a start that cannot be made puts the sequence straight back with the reason.
    start: Callable[[Connection, AfterCommit, TaskStart], None]
    # The state saved when the execution parked (None: a fresh run).
    saved: Callable[[str], Awaitable[dict[str, Any] | None]]
