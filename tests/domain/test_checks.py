"""Checks on how a run ended: the model's validation, judging, and learned bands."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from taskgate.domain.checks import Checks, OnViolation, judge, running_limits
from taskgate.domain.durations import Band, seconds_text


def checks(**raw: object) -> Checks:
    return Checks.model_validate(raw)


def test_a_bare_number_is_a_fail_bound_in_seconds() -> None:
    parsed = checks(min_duration=60, max_duration={"seconds": 90, "on_violation": "warn"})
    assert parsed.min_duration is not None and parsed.min_duration.seconds == 60
    assert parsed.min_duration.on_violation is OnViolation.FAIL
    assert parsed.max_duration is not None
    assert parsed.max_duration.on_violation is OnViolation.WARN


def test_too_short_a_run_is_named_with_both_durations() -> None:
    broken = judge(checks(min_duration=60), seconds=3.0, result=None, band=None)
    assert [(v.check, v.reason) for v in broken] == [
        ("min_duration", "ran 3 s, expected at least 60 s")
    ]


def test_too_long_a_run_and_a_result_check() -> None:
    parsed = checks(
        max_duration=10,
        result=[{"path": "rows", "op": ">=", "value": 1, "on_violation": "warn"}],
    )
    broken = judge(parsed, seconds=12.5, result={"rows": 0}, band=None)
    assert [(v.check, v.on_violation.value, v.reason) for v in broken] == [
        ("max_duration", "fail", "ran 12 s, expected at most 10 s"),
        ("result.rows", "warn", "result: rows is 0, expected ≥ 1"),
    ]


def test_a_run_within_its_checks_breaks_none() -> None:
    parsed = checks(
        min_duration=1, max_duration=10, result=[{"path": "ok", "op": "eq", "value": True}]
    )
    assert judge(parsed, seconds=5, result={"ok": True}, band=None) == []


def test_a_missing_result_breaks_a_result_check() -> None:
    parsed = checks(result=[{"path": "rows", "op": "gt", "value": 0, "name": "has rows"}])
    (broken,) = judge(parsed, seconds=1, result=None, band=None)
    assert broken.check == "has rows"
    assert "not there" in broken.reason


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        ({"result": [{"path": "rows[", "op": ">=", "value": 1}]}, ("result", 0, "path")),
        ({"result": [{"path": "rows", "op": "about", "value": 1}]}, ("result", 0, "op")),
        ({"result": [{"path": "rows", "op": "in", "value": 1}]}, ("result", 0, "value")),
        ({"result": [{"path": "rows", "op": "in"}]}, ("result", 0, "value")),
        ({"result": [{"path": "name", "op": "matches"}]}, ("result", 0, "value")),
        ({"min_duration": 60, "max_duration": 30}, ("max_duration",)),
        ({"min_duration": 0}, ("min_duration", "seconds")),
        ({"deadline": {"cron": "0 7 * * *", "timezone": "Mars/Olympus"}}, ("deadline", "timezone")),
        ({"expected_duration": "guess"}, ("expected_duration",)),
        ({"expected_duration": {"min_runs": 20, "window": 10}}, ("expected_duration", "window")),
        ({"max_durration": 3}, ("max_durration",)),
    ],
)
def test_bad_checks_name_the_field(raw: dict[str, object], where: tuple[object, ...]) -> None:
    with pytest.raises(ValidationError) as caught:
        Checks.model_validate(raw)
    assert caught.value.errors()[0]["loc"] == where


def test_learn_alone_takes_the_defaults() -> None:
    parsed = checks(expected_duration="learn")
    assert parsed.expected_duration is not None
    assert parsed.expected_duration.min_runs == 10
    assert parsed.expected_duration.on_violation is OnViolation.WARN


def test_the_band_is_the_median_plus_minus_k_mads() -> None:
    durations = [10.0, 11.0, 12.0, 13.0, 14.0, 100.0]
    band = Band.learn(durations, min_runs=5, k=2, floor_seconds=0, floor_ratio=0)
    assert band is not None
    assert band.median == 12.5
    assert band.mad == 1.5  # deviations 2.5 1.5 0.5 0.5 1.5 87.5
    assert (band.low, band.high) == (9.5, 15.5)
    assert band.holds(15) and not band.holds(16) and not band.holds(9)


def test_a_zero_mad_still_leaves_a_band() -> None:
    band = Band.learn([5.0] * 10, min_runs=10, k=3, floor_seconds=1, floor_ratio=0.1)
    assert band is not None and band.mad == 0
    assert (band.low, band.high) == (4.0, 6.0)
    big = Band.learn([100.0] * 10, min_runs=10, k=3, floor_seconds=1, floor_ratio=0.1)
    assert big is not None and (big.low, big.high) == (90.0, 110.0)


def test_no_band_before_enough_runs() -> None:
    assert Band.learn([1.0] * 9, min_runs=10, k=3, floor_seconds=1, floor_ratio=0.1) is None


def test_a_learned_band_is_judged() -> None:
    parsed = checks(expected_duration={"min_runs": 3, "on_violation": "fail"})
    band = Band.learn([10.0, 10.0, 10.0], min_runs=3, k=3, floor_seconds=1, floor_ratio=0)
    (broken,) = judge(parsed, seconds=2, result=None, band=band)
    assert broken.reason == "ran 2 s, expected 9 s to 11 s (learned from 3 runs)"
    assert broken.on_violation is OnViolation.FAIL


def test_running_too_long_says_so() -> None:
    band = Band.learn([10.0, 10.0, 10.0], min_runs=3, k=3, floor_seconds=1, floor_ratio=0)
    limits = running_limits(checks(max_duration=20, expected_duration={"min_runs": 3}), band)
    assert [(limit.check, limit.seconds) for limit in limits] == [
        ("expected_duration", 11.0),
        ("max_duration", 20),
    ]
    assert limits[1].passed(20.4).reason == "running for 20 s, expected at most 20 s"
    assert limits[0].passed(11.5).reason == (
        "running for 12 s, expected 9 s to 11 s (learned from 3 runs)"
    )
    assert running_limits(checks(expected_duration="learn"), None) == []


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.256, "0.26 s"),
        (3.0, "3 s"),
        (3.45, "3.5 s"),
        (60, "60 s"),
        (125, "2 min 5 s"),
        (3600, "1 h"),
        (7800, "2 h 10 min"),
    ],
)
def test_seconds_text(seconds: float, text: str) -> None:
    assert seconds_text(seconds) == text
