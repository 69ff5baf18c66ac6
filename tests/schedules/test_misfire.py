"""The misfire policies, on a one-second cron trigger and a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from taskgate.schedules.cron import CronTrigger
from taskgate.schedules.misfire import Plan, Run, Skip, plan
from taskgate.schedules.spec import FireOutcome, Misfire

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
EVERY_SECOND = CronTrigger("* * * * * *", ZoneInfo("UTC"))
GRACE = timedelta(seconds=2)


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def decide(policy: Misfire, now: float, limit: int = 100, fire_at: float = 0) -> Plan:
    return plan(
        EVERY_SECOND,
        slot=T0,
        fire_at=s(fire_at),
        now=s(now),
        policy=policy,
        grace=GRACE,
        limit=limit,
    )


@pytest.mark.parametrize("policy", list(Misfire))
def test_on_time_is_one_run_whatever_the_policy(policy: Misfire) -> None:
    result = decide(policy, now=0.004)
    assert result.runs == [Run(T0, FireOutcome.FIRED)]
    assert result.skips == []
    assert result.next_slot == s(1)


@pytest.mark.parametrize("policy", list(Misfire))
def test_late_within_grace_runs_every_slot(policy: Misfire) -> None:
    result = decide(policy, now=1.5)
    assert result.runs == [Run(T0, FireOutcome.FIRED), Run(s(1), FireOutcome.FIRED)]
    assert result.next_slot == s(2)


def test_skip() -> None:
    result = decide(Misfire.SKIP, now=10.5)
    # slots 0..8 are more than 2 s late; 9 and 10 are within the grace period
    assert result.skips == [Skip(T0, s(8), 9)]
    assert result.runs == [Run(s(9), FireOutcome.FIRED), Run(s(10), FireOutcome.FIRED)]
    assert result.next_slot == s(11)


def test_once() -> None:
    result = decide(Misfire.ONCE, now=10.5)
    assert result.runs == [Run(s(10), FireOutcome.CAUGHT_UP, T0, 11)]
    assert result.skips == []
    assert result.next_slot == s(11)


def test_all() -> None:
    result = decide(Misfire.ALL, now=10.5)
    assert [r.slot for r in result.runs] == [s(i) for i in range(11)]
    assert [r.outcome for r in result.runs] == [FireOutcome.CAUGHT_UP] * 9 + [FireOutcome.FIRED] * 2
    assert result.skips == []


def test_all_is_bounded() -> None:
    result = decide(Misfire.ALL, now=10.5, limit=3)
    assert result.skips == [Skip(T0, s(7), 8)]
    assert [r.slot for r in result.runs] == [s(8), s(9), s(10)]


def test_jitter_counts_from_the_fire_time() -> None:
    # the slot was due at +1.9 s with its jitter: 0.5 s late, not 2.4 s
    result = decide(Misfire.SKIP, now=2.4, fire_at=1.9)
    assert result.runs[0] == Run(T0, FireOutcome.FIRED)


def test_a_long_downtime_is_not_walked_slot_by_slot() -> None:
    result = decide(Misfire.ONCE, now=3 * 86400 + 0.5)
    assert result.scan_cut
    assert result.next_slot == s(3 * 86400 + 1)
    assert len(result.runs) == 1
