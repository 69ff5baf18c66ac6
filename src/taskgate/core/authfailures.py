"""Failed authentications: each one logged (where from, which door, which key by its prefix,
never the secret) and counted, and a source that fails too often slowed down, on every door
that takes keys.

A source may fail `burst` times at once; after that it gets one more try each
`window / burst` seconds, and until then every credential it sends is refused with 429 before
it is even looked up, so guessing keys from one place becomes slow. A missing credential is no
failed authentication (browsers and probes send none); a wrong, revoked, expired, forged or
malformed one is.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from taskgate.domain.buckets import TokenBuckets, retry_after_seconds
from taskgate.domain.errors import TooManyRequests

log = logging.getLogger("taskgate.auth")
# What a log line may show of a credential: a key's public prefix, a token's execution id.
_KEY_PREFIX = re.compile(r"tg_[0-9a-f]{8}(?=_)")
_TOKEN_PREFIX = re.compile(r"tgx_[0-9a-f-]{36}(?=_)")


@dataclass(frozen=True)
class Source:
    """Where a credential came from: the door it used and the peer's address."""

    door: str
    address: str


def shown(credential: str) -> str:
    """The part of a credential a log may show: never any of its secret part."""
    match = _KEY_PREFIX.match(credential) or _TOKEN_PREFIX.match(credential)
    return match.group(0) if match else "(not a taskgate key)"


class FailedAuthentications:
    def __init__(
        self,
        burst: int = 10,
        window_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.buckets = TokenBuckets(burst, window_seconds)
        self.clock = clock
        # By door, for the metrics.
        self.failures: Counter[str] = Counter()
        self.throttled: Counter[str] = Counter()

    def check(self, source: Source) -> None:
        """TooManyRequests while `source` must wait before it may try a credential again."""
        wait = self.buckets.wait(source.address, self.clock())
        if wait > 0:
            self.throttled[source.door] += 1
            seconds = retry_after_seconds(wait)
            raise TooManyRequests(
                f"too many failed authentications from {source.address}; retry in {seconds} s",
                retry_after=seconds,
            )

    def failed(self, source: Source, credential: str, reason: str) -> None:
        self.failures[source.door] += 1
        self.buckets.take(source.address, self.clock())
        log.warning(
            "failed authentication on %s from %s with %s: %s",
            source.door,
            source.address or "unknown",
            shown(credential),
            reason,
        )
