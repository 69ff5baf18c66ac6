"""What an attempt's end means for its execution: one rule for runs, crashes and shutdowns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from taskgate.domain.status import Status
from taskgate.domain.tasks import RetryPolicy


@dataclass(frozen=True)
class NextStep:
    status: Status
    not_before: datetime | None
    message: str


def after_attempt(
    policy: RetryPolicy, number: int, attempt_status: Status, message: str, now: datetime
) -> NextStep:
    if not policy.retries_after(number, attempt_status.is_failure):
        return NextStep(attempt_status, None, message)
    delay = policy.delay_before(number + 1)
    note = f"{message}; retry {number} of {policy.count} in {delay:g}s"
    return NextStep(Status.RETRY, now + timedelta(seconds=delay), note)
