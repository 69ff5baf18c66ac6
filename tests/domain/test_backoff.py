"""One backoff formula, and the two retry policies that read it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from taskgate.domain.backoff import backoff_delay
from taskgate.domain.tasks import RetryPolicy
from taskgate.domain.webhooks import DeliveryRetryPolicy


def test_each_wait_grows_by_the_factor_up_to_the_longest() -> None:
    waits = [backoff_delay(n, first=0.5, longest=10.0) for n in range(1, 8)]
    assert waits == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert [backoff_delay(n, first=1, longest=100, factor=3) for n in (1, 2, 3)] == [1, 3, 9]


@pytest.mark.parametrize("retry", [0, -1])
def test_no_wait_before_the_first_try(retry: int) -> None:
    assert backoff_delay(retry, first=5, longest=60) == 0.0


def test_a_retry_count_beyond_any_float_waits_the_longest() -> None:
    assert backoff_delay(10_000, first=5, longest=60) == 60.0


def test_a_task_waits_before_each_retry_not_before_its_first_attempt() -> None:
    policy = RetryPolicy(count=5, delay=2, backoff=3, max_delay=50)
    assert [policy.delay_before(n) for n in (1, 2, 3, 4, 5)] == [0.0, 2.0, 6.0, 18.0, 50.0]


def test_a_delivery_is_retried_with_backoff_and_given_up_at_its_limit() -> None:
    policy = DeliveryRetryPolicy(first_retry_seconds=5, longest_retry_seconds=30, max_attempts=4)
    delays = [policy.delay_after(n) for n in (0, 1, 2, 3, 4)]
    assert delays == [timedelta(seconds=s) for s in (5, 5, 10, 20, 30)]
    assert [policy.gives_up_after(n) for n in (3, 4, 5)] == [False, True, True]
