"""Token buckets per source: how many requests (or failures) a source may have at once, and
how fast that allowance comes back. Butler's rate limit and the slow-down after failed
authentications are both this rule; each keeps its own buckets.

The structure is bounded: past `max_tracked` sources, those whose bucket has refilled are
forgotten first, then the ones least recently seen. IPv6 sources count per /64, the block one
machine usually holds, so a host cannot dodge its bucket by changing addresses.
"""

from __future__ import annotations

import ipaddress
import math
from collections import OrderedDict
from dataclasses import dataclass

MAX_TRACKED = 10_000


def source_key(address: str) -> str:
    """The bucket of an address: itself for IPv4 (and names), its /64 for IPv6."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def retry_after_seconds(wait: float) -> int:
    """A wait as a Retry-After header says it: whole seconds, at least one."""
    return max(1, math.ceil(wait))


@dataclass
class _Bucket:
    tokens: float
    at: float


class TokenBuckets:
    """`capacity` tokens per source, refilled evenly over `period` seconds."""

    def __init__(self, capacity: int, period: float, max_tracked: int = MAX_TRACKED) -> None:
        self.capacity = float(capacity)
        self.rate = capacity / period
        self.max_tracked = max_tracked
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take(self, source: str, now: float) -> float:
        """Take a token: 0 when there was one, else the seconds until there is (none taken)."""
        bucket = self._refilled(source, now)
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate

    def wait(self, source: str, now: float) -> float:
        """The seconds until `source` has a token again (0: it has one); nothing is taken."""
        key = source_key(source)
        bucket = self._buckets.get(key)
        if bucket is None:
            return 0.0
        tokens = min(self.capacity, bucket.tokens + (now - bucket.at) * self.rate)
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate

    def remaining(self, source: str) -> int:
        bucket = self._buckets.get(source_key(source))
        return int(bucket.tokens) if bucket else int(self.capacity)

    def __len__(self) -> int:
        return len(self._buckets)

    def _refilled(self, source: str, now: float) -> _Bucket:
        key = source_key(source)
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_tracked:
                self._forget(now)
            bucket = self._buckets[key] = _Bucket(self.capacity, now)
        else:
            self._buckets.move_to_end(key)
        bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        return bucket

    def _forget(self, now: float) -> None:
        full = [
            key
            for key, bucket in self._buckets.items()
            if bucket.tokens + (now - bucket.at) * self.rate >= self.capacity
        ]
        for key in full:
            del self._buckets[key]
        while len(self._buckets) >= self.max_tracked:
            self._buckets.popitem(last=False)
