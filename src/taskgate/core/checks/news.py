"""The events a check sends about a run whose status does not change (domain/events.py)."""

from __future__ import annotations

import dataclasses

from taskgate.domain.checks import Violation
from taskgate.domain.events import CHECK_VIOLATED, ExecutionEvent


def violation_event(
    ended: ExecutionEvent, violation: Violation, kind: str = CHECK_VIOLATED
) -> ExecutionEvent:
    """The news that a check broke, about the run `ended` (its status event)."""
    return dataclasses.replace(
        ended, kind=kind, check=violation.to_json(), message=violation.reason, seq=0
    )
