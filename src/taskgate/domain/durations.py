"""Duration bounds learned from history: the median ± k * MAD of recent successful runs.

The median and the MAD (median absolute deviation from the median) are robust: one run that
hung for an hour, or one that did nothing, moves them little, where a mean and a standard
deviation would follow the outlier. A job whose runs all take the same time has a MAD of 0;
a floor (`floor_seconds`, and `floor_ratio` of the median) keeps the band from closing to a
point that every next run would break by a millisecond.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import median
from typing import Any


@dataclass(frozen=True)
class Band:
    median: float
    mad: float
    low: float
    high: float
    runs: int

    @classmethod
    def learn(
        cls,
        durations: list[float],
        *,
        min_runs: int,
        k: float,
        floor_seconds: float,
        floor_ratio: float,
    ) -> Band | None:
        """The band of these durations (seconds); None when there are fewer than `min_runs`."""
        if len(durations) < min_runs or not durations:
            return None
        middle = median(durations)
        mad = median(abs(d - middle) for d in durations)
        half = max(k * mad, floor_seconds, floor_ratio * middle)
        return cls(middle, mad, max(0.0, middle - half), middle + half, len(durations))

    def holds(self, seconds: float) -> bool:
        return self.low <= seconds <= self.high

    def text(self) -> str:
        return (
            f"{seconds_text(self.low)} to {seconds_text(self.high)} (learned from {self.runs} runs)"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "median_seconds": round(self.median, 3),
            "mad_seconds": round(self.mad, 3),
            "low_seconds": round(self.low, 3),
            "high_seconds": round(self.high, 3),
            "runs": self.runs,
        }


def seconds_text(seconds: float) -> str:
    """A duration as a person reads it: `0.25 s`, `3.5 s`, `60 s`, `2 min 5 s`, `2 h 10 min`."""
    if seconds < 10:
        digits = 3 if seconds < 0.1 else 2 if seconds < 1 else 1
        return f"{seconds:.{digits}f}".rstrip("0").rstrip(".") + " s"
    whole = round(seconds)
    if whole < 120:
        return f"{whole} s"
    if whole < 3600:
        minutes, rest = divmod(whole, 60)
        return f"{minutes} min" + (f" {rest} s" if rest else "")
    hours, rest = divmod(whole, 3600)
    return f"{hours} h" + (f" {rest // 60} min" if rest // 60 else "")
