"""Requests per minute per client address (Butler limits all clients together: a defect)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

# Forget clients whose bucket has refilled, once this many are tracked.
MAX_TRACKED = 10_000


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """A token bucket per address: `per_minute` requests, refilled evenly over the minute."""

    def __init__(self, per_minute: int) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._buckets: dict[str, _Bucket] = {}

    def take(self, address: str, now: float | None = None) -> float:
        """0 when the request may pass, else the seconds until it could."""
        now = time.monotonic() if now is None else now
        bucket = self._buckets.get(address)
        if bucket is None:
            if len(self._buckets) >= MAX_TRACKED:
                self._forget_idle(now)
            bucket = self._buckets[address] = _Bucket(self.capacity, now)
        bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate

    def remaining(self, address: str) -> int:
        bucket = self._buckets.get(address)
        return int(bucket.tokens) if bucket else int(self.capacity)

    def _forget_idle(self, now: float) -> None:
        full = [
            address
            for address, bucket in self._buckets.items()
            if bucket.tokens + (now - bucket.at) * self.rate >= self.capacity
        ]
        for address in full:
            del self._buckets[address]


def retry_after_seconds(wait: float) -> int:
    return max(1, math.ceil(wait))
