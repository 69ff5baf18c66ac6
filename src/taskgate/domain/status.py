"""The one execution status enum, in Qlik's vocabulary, and the tables every door maps from."""

from enum import StrEnum


class Status(StrEnum):
    NEVER_STARTED = "never_started"
    TRIGGERED = "triggered"
    QUEUED = "queued"
    STARTED = "started"
    ABORT_INITIATED = "abort_initiated"
    ABORTING = "aborting"
    ABORTED = "aborted"
    FINISHED_SUCCESS = "finished_success"
    FINISHED_FAIL = "finished_fail"
    SKIPPED = "skipped"
    RETRY = "retry"
    ERROR = "error"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL

    @property
    def is_failure(self) -> bool:
        return self in FAILED


TERMINAL: frozenset[Status] = frozenset(
    {Status.ABORTED, Status.FINISHED_SUCCESS, Status.FINISHED_FAIL, Status.SKIPPED, Status.ERROR}
)
# Holding a concurrency slot: the process may be alive.
ACTIVE: frozenset[Status] = frozenset({Status.STARTED, Status.ABORT_INITIATED, Status.ABORTING})
PENDING: frozenset[Status] = frozenset({Status.TRIGGERED, Status.QUEUED, Status.RETRY})
# Ends that count as a failure: a retry policy retries them, Butler's failure topic reports
# them, QRS marks them as errors. (Aborted and skipped runs ended as asked, not failed.)
FAILED: frozenset[Status] = frozenset({Status.FINISHED_FAIL, Status.ERROR})


def is_terminal(status: str | None) -> bool:
    """True when `status` is one of the terminal statuses (unknown names are not)."""
    if status is None:
        return False
    try:
        return Status(status) in TERMINAL
    except ValueError:
        return False


# Qlik TaskExecutionStatus integers (QRS ExecutionResult.status).
QRS_CODE: dict[Status, int] = {
    Status.NEVER_STARTED: 0,
    Status.TRIGGERED: 1,
    Status.STARTED: 2,
    Status.QUEUED: 3,
    Status.ABORT_INITIATED: 4,
    Status.ABORTING: 5,
    Status.ABORTED: 6,
    Status.FINISHED_SUCCESS: 7,
    Status.FINISHED_FAIL: 8,
    Status.SKIPPED: 9,
    Status.RETRY: 10,
    Status.ERROR: 11,
}


# Celery state names (the Jaseci door's walker_queue_check and walker_queue_wait). A run still
# waiting is PENDING, one that runs (or is being stopped) STARTED; only an end is "ready".
CELERY_STATE: dict[Status, str] = {
    Status.NEVER_STARTED: "PENDING",
    Status.TRIGGERED: "PENDING",
    Status.QUEUED: "PENDING",
    Status.STARTED: "STARTED",
    Status.ABORT_INITIATED: "STARTED",
    Status.ABORTING: "STARTED",
    Status.ABORTED: "REVOKED",
    Status.FINISHED_SUCCESS: "SUCCESS",
    Status.FINISHED_FAIL: "FAILURE",
    Status.SKIPPED: "REVOKED",
    Status.RETRY: "RETRY",
    Status.ERROR: "FAILURE",
}
