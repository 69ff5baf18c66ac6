"""What a remote Qlik Sense run's status (TaskExecutionStatus) means for our execution."""

from __future__ import annotations

from taskgate.domain.status import QRS_CODE, Status

# TaskExecutionStatus names, for the log and the execution result.
REMOTE_NAMES: dict[int, str] = {
    0: "NeverStarted",
    1: "Triggered",
    2: "Started",
    3: "Queued",
    4: "AbortInitiated",
    5: "Aborting",
    6: "Aborted",
    7: "FinishedSuccess",
    8: "FinishedFail",
    9: "Skipped",
    10: "Retry",
    11: "Error",
    12: "Reset",
    13: "DistributionQueue",
    14: "DistributionRunning",
}

# Still going: the remote scheduler has more to do (13/14 are newer servers' distribution).
IN_PROGRESS = frozenset({1, 2, 3, 4, 5, 10, 13, 14})

_TERMINAL: dict[int, Status] = {
    code: status for status, code in QRS_CODE.items() if status.is_terminal
} | {
    0: Status.ERROR,  # a result that never started cannot be an outcome we report as success
    12: Status.ERROR,  # Reset: the scheduler dropped the run (e.g. a service restart)
}


def remote_name(code: int | None) -> str:
    if code is None:
        return "unknown"
    return REMOTE_NAMES.get(code, f"status {code}")


def is_running(code: int | None) -> bool:
    return code in IN_PROGRESS


def outcome_of(code: int | None) -> Status:
    """Our status for a remote run that has ended with `code`.

    7 -> finished_success, 8 -> finished_fail, 6 -> aborted, 9 -> skipped (the remote scheduler
    chose not to run it; not a failure, and not retried), 11/12/0 and anything unknown -> error.
    """
    if code is None:
        return Status.ERROR
    return _TERMINAL.get(code, Status.ERROR)
