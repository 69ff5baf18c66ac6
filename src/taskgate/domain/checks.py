"""Checks on how a run ended: what a run that exited 0 must also satisfy to count as a success.

A task (or one start of it, overriding the task's) may say:

    checks:
      min_duration: 60                    # seconds, or {seconds: 60, on_violation: warn}
      max_duration: {seconds: 3600, on_violation: warn}
      result:                              # conditions on the run's result (JSON)
        - {path: rows, op: ">=", value: 1}
      expected_duration: learn             # bounds learned from history (see durations.py)
      deadline: {cron: "0 7 * * 1-5", timezone: Europe/Berlin}

Each check breaks with `on_violation: fail` (the run ends `finished_fail` with the reason)
or `warn` (it stays `finished_success` and the execution carries a warning). The duration
of a run is its last attempt's, from its start to its end. Nothing here evaluates code:
result checks are comparisons of the expression language (domain/expressions).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationInfo, field_validator, model_validator

from taskgate.domain.durations import Band, seconds_text
from taskgate.domain.expressions import ExpressionError, parse_path
from taskgate.domain.expressions.conditions import OPERATORS, SYMBOLS, Comparison, comparison
from taskgate.domain.model import Strict

MAX_SECONDS = 366 * 86400
MAX_RESULT_CHECKS = 50


class OnViolation(StrEnum):
    FAIL = "fail"
    WARN = "warn"


class DurationBound(Strict):
    """A fixed bound on how long a run takes; a bare number is `{seconds: N}`."""

    seconds: float = Field(..., gt=0, le=MAX_SECONDS)
    on_violation: OnViolation = OnViolation.FAIL

    @model_validator(mode="before")
    @classmethod
    def _bare_number(cls, raw: Any) -> Any:
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            return {"seconds": raw}
        return raw


class ResultCheck(Strict):
    """A comparison on the run's result: `{path: rows, op: ">=", value: 1}`."""

    path: str = Field(..., max_length=500, description="Where in the result (`rows`, `a.b[0]`).")
    op: str = Field(
        ...,
        description="eq ne gt gte lt lte (or == != > >= < <=), in, not_in, "
        "contains, matches, exists, missing.",
    )
    value: Any = Field(None, validate_default=True)
    on_violation: OnViolation = OnViolation.FAIL
    name: str | None = Field(None, min_length=1, max_length=100, description="Shown in reports.")

    @field_validator("path")
    @classmethod
    def _path(cls, path: str) -> str:
        try:
            parse_path(path)
        except ExpressionError as exc:
            raise ValueError(exc.message) from None
        return path

    @field_validator("op")
    @classmethod
    def _op(cls, op: str) -> str:
        if SYMBOLS.get(op, op) not in OPERATORS:
            known = ", ".join(sorted(OPERATORS | set(SYMBOLS)))
            raise ValueError(f"unknown operator {op!r} (known: {known})")
        return op

    @field_validator("value")
    @classmethod
    def _value(cls, value: Any, info: ValidationInfo) -> Any:
        path, op = info.data.get("path"), info.data.get("op")
        if path is None or op is None:
            return value  # their own errors are reported
        try:
            comparison(path, op, value)
        except ExpressionError as exc:
            raise ValueError(exc.message) from None
        return value

    @property
    def label(self) -> str:
        return self.name or (f"result.{self.path}" if self.path else "result")

    def comparison(self) -> Comparison:
        return comparison(self.path, self.op, self.value)


class LearnedDuration(Strict):
    """Bounds learned from the durations of the task's recent successful runs: the median
    ± k * MAD (median absolute deviation), the half-width at least `floor_seconds` and at
    least `floor_ratio` of the median. `learn` alone takes every default."""

    min_runs: int = Field(10, ge=2, le=10000, description="Successful runs needed first.")
    window: int = Field(100, ge=2, le=10000, description="How many recent runs it learns from.")
    k: float = Field(3.0, gt=0, le=100, description="Half-width in MADs.")
    floor_seconds: float = Field(1.0, ge=0, le=MAX_SECONDS)
    floor_ratio: float = Field(0.1, ge=0, le=10)
    on_violation: OnViolation = OnViolation.WARN

    @model_validator(mode="before")
    @classmethod
    def _bare_word(cls, raw: Any) -> Any:
        if raw == "learn" or raw is True:
            return {}
        if isinstance(raw, str):
            raise ValueError("expected `learn` or an object {min_runs, k, window, ...}")
        return raw

    @field_validator("window")
    @classmethod
    def _window(cls, window: int, info: ValidationInfo) -> int:
        min_runs = info.data.get("min_runs")
        if min_runs is not None and window < min_runs:
            raise ValueError(f"must be at least min_runs ({min_runs})")
        return window

    def band(self, durations: list[float]) -> Band | None:
        """The band these durations (seconds) give; None until there are `min_runs`."""
        return Band.learn(
            durations[: self.window],
            min_runs=self.min_runs,
            k=self.k,
            floor_seconds=self.floor_seconds,
            floor_ratio=self.floor_ratio,
        )


class Deadline(Strict):
    """By when the task must have succeeded: at each time the cron expression names (in the
    zone), a success must have ended since the previous one (or within `within_seconds`)."""

    cron: str = Field(..., min_length=1, max_length=200, description="Cron, as in schedules.")
    timezone: str = Field("UTC", min_length=1, max_length=64, description="IANA zone name.")
    within_seconds: float | None = Field(
        None,
        gt=0,
        le=MAX_SECONDS,
        description="A success counts this long; default: since the previous deadline.",
    )

    @field_validator("timezone")
    @classmethod
    def _zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{name!r} is not an IANA time zone (e.g. Europe/Berlin)") from None
        return name


class Checks(Strict):
    min_duration: DurationBound | None = None
    max_duration: DurationBound | None = None
    result: list[ResultCheck] = Field(default_factory=list, max_length=MAX_RESULT_CHECKS)
    expected_duration: LearnedDuration | None = None
    deadline: Deadline | None = None

    @field_validator("max_duration")
    @classmethod
    def _not_below_min(
        cls, bound: DurationBound | None, info: ValidationInfo
    ) -> DurationBound | None:
        low = info.data.get("min_duration")
        if bound is not None and low is not None and bound.seconds < low.seconds:
            raise ValueError(
                f"{seconds_text(bound.seconds)} is less than min_duration "
                f"({seconds_text(low.seconds)})"
            )
        return bound

    @property
    def on_end(self) -> bool:
        """Whether anything is judged when a run ends."""
        return bool(self.min_duration or self.max_duration or self.result or self.expected_duration)


@dataclass(frozen=True)
class Violation:
    """A check a run broke, and why, in words a person reads."""

    check: str
    on_violation: OnViolation
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"check": self.check, "on_violation": self.on_violation.value, "reason": self.reason}


def judge(checks: Checks, *, seconds: float, result: Any, band: Band | None) -> list[Violation]:
    """The checks a successful run of `seconds` with `result` breaks (`band`: the learned
    bounds, when the checks learn and there is enough history)."""
    broken: list[Violation] = []
    ran = seconds_text(seconds)
    low, high = checks.min_duration, checks.max_duration
    if low is not None and seconds < low.seconds:
        reason = f"ran {ran}, expected at least {seconds_text(low.seconds)}"
        broken.append(Violation("min_duration", low.on_violation, reason))
    if high is not None and seconds > high.seconds:
        reason = f"ran {ran}, expected at most {seconds_text(high.seconds)}"
        broken.append(Violation("max_duration", high.on_violation, reason))
    learned = checks.expected_duration
    if learned is not None and band is not None and not band.holds(seconds):
        reason = f"ran {ran}, expected {band.text()}"
        broken.append(Violation("expected_duration", learned.on_violation, reason))
    for check in checks.result:
        verdict = check.comparison().evaluate(result)
        if not verdict.ok:
            broken.append(Violation(check.label, check.on_violation, f"result: {verdict.reason}"))
    return broken


@dataclass(frozen=True)
class RunningLimit:
    """A duration a run is watched for while it runs: its max_duration, or the upper end of
    its learned band."""

    check: str
    seconds: float
    on_violation: OnViolation
    expected: str

    def passed(self, seconds: float) -> Violation:
        """What is said when a run passes this limit while it still runs."""
        reason = f"running for {seconds_text(seconds)}, expected {self.expected}"
        return Violation(self.check, self.on_violation, reason)


def running_limits(checks: Checks | None, band: Band | None) -> list[RunningLimit]:
    """The limits a running attempt is watched for, soonest first."""
    limits: list[RunningLimit] = []
    if checks is None:
        return limits
    high = checks.max_duration
    if high is not None:
        expected = f"at most {seconds_text(high.seconds)}"
        limits.append(RunningLimit("max_duration", high.seconds, high.on_violation, expected))
    learned = checks.expected_duration
    if learned is not None and band is not None:
        limits.append(
            RunningLimit("expected_duration", band.high, learned.on_violation, band.text())
        )
    return sorted(limits, key=lambda limit: limit.seconds)
