"""The one execution status enum, in Qlik's vocabulary, and the tables every door maps from."""

from enum import StrEnum
from typing import Literal

from taskgate.domain.qrsenums import ABORT_REASON


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


class EndReason(StrEnum):
    """Why an execution ended, beside how (its status): what lets each door tell a timeout
    from an abort or a lost node as its clients expect."""

    # The action ran to its own end; its exit code or answer decided success or failure.
    COMPLETED = "completed"
    # The action could not run to its end (it failed to start, a request could not be sent,
    # taskgate failed inside).
    ERROR = "error"
    # The task's timeout passed: the run was stopped.
    TIMEOUT = "timeout"
    # Stopped on request (`aborted_by` names who: a caller, a workflow, a sequence).
    ABORTED = "aborted"
    # Ended as a success but broken checks (domain/checks.py) failed it.
    CHECK_FAILED = "check_failed"
    # Its server process died, or stopped renewing its lease: another one ended it.
    NODE_LOST = "node_lost"
    # Its server stopped (a clean shutdown) while it ran.
    SERVER_STOPPED = "server_stopped"
    # Never ran: a concurrency policy skipped it, or its workflow skipped its phase.
    SKIPPED = "skipped"


def default_reason(status: Status) -> EndReason | None:
    """The reason an end has when its writer knows no more (and rows from before reasons)."""
    return _DEFAULT_REASON.get(status)


_DEFAULT_REASON: dict[Status, EndReason] = {
    Status.FINISHED_SUCCESS: EndReason.COMPLETED,
    Status.FINISHED_FAIL: EndReason.COMPLETED,
    Status.ERROR: EndReason.ERROR,
    Status.ABORTED: EndReason.ABORTED,
    Status.SKIPPED: EndReason.SKIPPED,
}


# The one table of how an end looks to clients of Qlik's vocabulary (the QRS door, Butler's
# MQTT topics): Qlik Sense aborts a task that passes its session timeout, so QRS shows it as
# 6 Aborted with abortReason 2 Timeout, and Butler reports it on its "aborted" topic. Every
# other end looks like its status.
SHOWN_AS: dict[EndReason, Status] = {EndReason.TIMEOUT: Status.ABORTED}
# QRS AbortReason (ExecutionSession.abortReason); any other end: 0 Undefined.
QRS_ABORT_REASON: dict[EndReason, int] = {
    EndReason.ABORTED: ABORT_REASON.by_name()["manual"],
    EndReason.TIMEOUT: ABORT_REASON.by_name()["timeout"],
}

ButlerKind = Literal["failure", "aborted"]


def shown_status(status: Status, reason: str | None) -> Status:
    """The status a Qlik-speaking door shows for `status` ended for `reason`."""
    if reason is None or not status.is_terminal:
        return status
    try:
        return SHOWN_AS.get(EndReason(reason), status)
    except ValueError:
        return status


def qrs_abort_reason(status: Status, reason: str | None) -> int:
    """QRS's abortReason: Manual while an abort is on its way, else from the end's reason."""
    if status in (Status.ABORT_INITIATED, Status.ABORTING):
        return QRS_ABORT_REASON[EndReason.ABORTED]
    if reason is None or not status.is_terminal:
        return 0
    try:
        return QRS_ABORT_REASON.get(EndReason(reason), 0)
    except ValueError:
        return 0


def butler_kind(status: Status, reason: str | None) -> ButlerKind | None:
    """Which of Butler's MQTT topics reports an end: its failure or its aborted topic."""
    shown = shown_status(status, reason)
    if shown.is_failure:
        return "failure"
    if shown is Status.ABORTED:
        return "aborted"
    return None


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
