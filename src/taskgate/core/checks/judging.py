"""Judging a run that exited successfully against its checks, in the transaction that writes
its end: a `fail` check turns it into `finished_fail`, a `warn` check leaves a warning."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from taskgate.domain.checks import (
    Checks,
    OnViolation,
    RunningLimit,
    Violation,
    judge,
    running_limits,
)
from taskgate.domain.durations import Band
from taskgate.domain.status import Status
from taskgate.store import durations

log = logging.getLogger(__name__)
# How the message of a run that a `fail` check failed begins (CheckService.recent finds them).
CHECK_FAILED = "check failed: "


@dataclass(frozen=True)
class Judgement:
    status: Status
    message: str
    violations: list[Violation] = field(default_factory=list)
    # Whether the checks were applied (a success with checks on its end).
    judged: bool = False

    @property
    def warnings(self) -> list[dict[str, Any]]:
        return [v.to_json() for v in self.violations if v.on_violation is OnViolation.WARN]


def learned_band(conn: Connection, task_id: str, checks: Checks | None) -> Band | None:
    """The band the task's history gives, when its checks learn one and there is enough."""
    learned = checks.expected_duration if checks is not None else None
    if learned is None:
        return None
    return learned.band(durations.recent_successes(conn, task_id, learned.window))


def limits_while_running(
    conn: Connection, task_id: str, checks: Checks | None
) -> list[RunningLimit]:
    """What a running attempt of the task is watched for (max_duration, the learned band's
    upper end), soonest first."""
    if checks is None:
        return []
    return running_limits(checks, learned_band(conn, task_id, checks))


def judge_end(
    conn: Connection,
    task_id: str,
    checks: Checks | None,
    *,
    status: Status,
    message: str,
    seconds: float,
    result: Any,
) -> Judgement:
    """How a run ends once its checks are applied. Only a success is judged: a run that
    failed, was aborted or stopped has ended for a reason of its own."""
    if status is not Status.FINISHED_SUCCESS or checks is None or not checks.on_end:
        return Judgement(status, message)
    band = learned_band(conn, task_id, checks)
    try:
        broken = judge(checks, seconds=seconds, result=result, band=band)
    except Exception as exc:  # a check saved by an older version that no longer reads
        log.exception("task %s: its checks could not be judged", task_id)
        reason = f"the checks could not be judged: {exc}"
        broken = [Violation("checks", OnViolation.WARN, reason)]
    failed = [v.reason for v in broken if v.on_violation is OnViolation.FAIL]
    if failed:
        message = CHECK_FAILED + "; ".join(failed)
        return Judgement(Status.FINISHED_FAIL, message, broken, judged=True)
    return Judgement(status, message, broken, judged=True)
