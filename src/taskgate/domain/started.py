"""Did a task's start succeed: one answer, with the one point where wire contracts differ.

A start gives each task either no execution (disabled, held back by all_must_exist) or a new
execution, which a `skip` overlap policy may end at once as `skipped`. Butler's answer lists a
skipped task under `started` (the request was taken; the task was busy); QRS answers the empty
session id, the CLI exits 1, and the core's `started` count leaves it out (nothing will run).
Each caller says which reading its contract needs; the rule itself is written only here.
"""

from __future__ import annotations

from enum import Enum

from taskgate.domain.status import Status


class SkippedStart(Enum):
    """How a wire contract counts a start that its task's overlap policy skipped."""

    COUNTS_AS_STARTED = "counts_as_started"
    COUNTS_AS_NOT_STARTED = "counts_as_not_started"


def start_succeeded(
    execution_id: str | None, status: Status | str | None, *, skipped: SkippedStart
) -> bool:
    """Whether one task's start counts as started: it got an execution, and that execution was
    not skipped (unless `skipped` says a skipped start counts)."""
    if not execution_id:
        return False
    return skipped is SkippedStart.COUNTS_AS_STARTED or status != Status.SKIPPED
