"""Did a task's start succeed, and the one point where wire contracts read it differently."""

from __future__ import annotations

import pytest

from taskgate.domain.started import SkippedStart, start_succeeded
from taskgate.domain.status import Status

BOTH = list(SkippedStart)


@pytest.mark.parametrize("skipped", BOTH)
def test_a_start_without_an_execution_did_not_succeed(skipped: SkippedStart) -> None:
    assert not start_succeeded(None, Status.NEVER_STARTED, skipped=skipped)
    assert not start_succeeded("", None, skipped=skipped)


@pytest.mark.parametrize("skipped", BOTH)
@pytest.mark.parametrize("status", [Status.QUEUED, Status.STARTED, "finished_success"])
def test_a_start_with_an_execution_succeeded(skipped: SkippedStart, status: str) -> None:
    assert start_succeeded("e1", status, skipped=skipped)


def test_a_skipped_start_counts_only_where_the_contract_says_so() -> None:
    assert start_succeeded("e1", Status.SKIPPED, skipped=SkippedStart.COUNTS_AS_STARTED)
    assert not start_succeeded("e1", Status.SKIPPED, skipped=SkippedStart.COUNTS_AS_NOT_STARTED)
    # Statuses arrive as text from JSON answers (the CLI reads them so).
    assert not start_succeeded("e1", "skipped", skipped=SkippedStart.COUNTS_AS_NOT_STARTED)
