"""Failed authentications: what the log shows, when a source is slowed down, the counts."""

from __future__ import annotations

import logging

import pytest

from taskgate.core.authfailures import FailedAuthentications, Source, shown
from taskgate.domain.errors import TooManyRequests

SECRET = "tg_0123abcd_s3cr3t-part-of-the-key"


@pytest.mark.parametrize(
    ("credential", "visible"),
    [
        (SECRET, "tg_0123abcd"),
        (
            "tgx_0b7b1c50-6a47-4d63-9a55-6f0b6c1a0001_1900000000_sig",
            "tgx_0b7b1c50-6a47-4d63-9a55-6f0b6c1a0001",
        ),
        ("tg_mypassword", "(not a taskgate key)"),
        ("Basic dXNlcjpwYXNz", "(not a taskgate key)"),
        ("hunter2", "(not a taskgate key)"),
    ],
)
def test_only_the_public_part_is_shown(credential: str, visible: str) -> None:
    assert shown(credential) == visible


def test_a_burst_then_slowed_down(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    failures = FailedAuthentications(burst=3, window_seconds=30.0, clock=lambda: now[0])
    here, there = Source("api", "10.0.0.1"), Source("butler", "10.0.0.2")
    with caplog.at_level(logging.WARNING, logger="taskgate.auth"):
        for _ in range(3):
            failures.check(here)
            failures.failed(here, SECRET, "unknown API key")
    assert "failed authentication on api from 10.0.0.1 with tg_0123abcd: unknown API key" in (
        caplog.text
    )
    assert "s3cr3t" not in caplog.text
    with pytest.raises(TooManyRequests) as refused:
        failures.check(here)
    assert refused.value.retry_after == 10
    failures.check(there)  # another source is not slowed down
    now[0] = 10.0
    failures.check(here)  # one more try came back
    assert failures.failures == {"api": 3}
    assert failures.throttled == {"api": 1}
