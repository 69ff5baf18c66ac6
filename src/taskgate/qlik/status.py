"""What a remote Qlik Sense run's status (TaskExecutionStatus) means for our execution."""

from __future__ import annotations

from taskgate.domain.qrsenums import TASK_EXECUTION_STATUS
from taskgate.domain.status import QRS_CODE, Status

_TERMINAL: dict[int, Status] = {
    code: status for status, code in QRS_CODE.items() if status.is_terminal
} | {
    0: Status.ERROR,  # a result that never started cannot be an outcome we report as success
    12: Status.ERROR,  # Reset: the scheduler dropped the run (e.g. a service restart)
}


def remote_name(code: int | None) -> str:
    if code is None:
        return "unknown"
    return TASK_EXECUTION_STATUS.name_of(code) or f"status {code}"


def outcome_of(code: int | None) -> Status:
    """Our status for a remote run that has ended with `code`.

    7 -> finished_success, 8 -> finished_fail, 6 -> aborted, 9 -> skipped (the remote scheduler
    chose not to run it; not a failure, and not retried), 11/12/0 and anything unknown -> error.
    """
    if code is None:
        return Status.ERROR
    return _TERMINAL.get(code, Status.ERROR)
