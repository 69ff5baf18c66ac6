"""How a remote run's end (QRS TaskExecutionStatus) maps to our status."""

from __future__ import annotations

import pytest

from taskgate.domain.status import Status
from taskgate.qlik.status import outcome_of, remote_name


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (7, Status.FINISHED_SUCCESS),
        (8, Status.FINISHED_FAIL),
        (6, Status.ABORTED),
        (9, Status.SKIPPED),
        (11, Status.ERROR),
        (12, Status.ERROR),
        (0, Status.ERROR),
        (99, Status.ERROR),
        (None, Status.ERROR),
    ],
)
def test_outcomes(code: int | None, status: Status) -> None:
    assert outcome_of(code) is status


def test_names() -> None:
    assert remote_name(7) == "FinishedSuccess"
    assert remote_name(11) == "Error"
    assert remote_name(42) == "status 42"
    assert remote_name(None) == "unknown"
