"""The one status table: how an end, with its reason, looks to each door."""

from __future__ import annotations

import pytest

from taskgate.domain.status import (
    QRS_CODE,
    EndReason,
    Status,
    butler_kind,
    default_reason,
    qrs_abort_reason,
    shown_status,
)


def test_a_timeout_shows_as_aborted_with_reason_timeout() -> None:
    shown = shown_status(Status.ERROR, EndReason.TIMEOUT.value)
    assert shown is Status.ABORTED and QRS_CODE[shown] == 6
    assert qrs_abort_reason(Status.ERROR, "timeout") == 2
    assert butler_kind(Status.ERROR, "timeout") == "aborted"


@pytest.mark.parametrize(
    ("status", "reason", "shown", "abort_reason", "butler"),
    [
        (Status.ERROR, "node_lost", Status.ERROR, 0, "failure"),
        (Status.ERROR, "error", Status.ERROR, 0, "failure"),
        (Status.FINISHED_FAIL, "check_failed", Status.FINISHED_FAIL, 0, "failure"),
        (Status.FINISHED_FAIL, "completed", Status.FINISHED_FAIL, 0, "failure"),
        (Status.ABORTED, "aborted", Status.ABORTED, 1, "aborted"),
        (Status.FINISHED_SUCCESS, "completed", Status.FINISHED_SUCCESS, 0, None),
        (Status.SKIPPED, "skipped", Status.SKIPPED, 0, None),
        # Unknown or missing reasons (rows from before reasons) look like their status.
        (Status.ERROR, None, Status.ERROR, 0, "failure"),
        (Status.ERROR, "from the future", Status.ERROR, 0, "failure"),
        # While it runs, a reason changes nothing; an abort on its way is Manual.
        (Status.STARTED, "timeout", Status.STARTED, 0, None),
        (Status.ABORT_INITIATED, None, Status.ABORT_INITIATED, 1, None),
    ],
)
def test_other_ends_look_like_their_status(
    status: Status, reason: str | None, shown: Status, abort_reason: int, butler: str | None
) -> None:
    assert shown_status(status, reason) is shown
    assert qrs_abort_reason(status, reason) == abort_reason
    assert butler_kind(status, reason) == butler


def test_every_end_status_has_a_default_reason() -> None:
    for status in Status:
        assert (default_reason(status) is not None) == status.is_terminal
