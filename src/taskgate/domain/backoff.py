"""Exponential backoff: how long to wait before trying again what failed or has not changed.

One formula for every loop that backs off: a task's retries, webhook deliveries, the MQTT
door's commits while the database is away, polling a Qlik Sense site.
"""

from __future__ import annotations


def backoff_delay(retry: int, *, first: float, longest: float, factor: float = 2.0) -> float:
    """Seconds to wait before try again number `retry` (1: the first time again).

    `first`, then each wait `factor` times the one before, never longer than `longest`.
    """
    if retry < 1:
        return 0.0
    try:
        grown = first * factor ** (retry - 1)
    except OverflowError:  # a retry count beyond any float: the cap has long been reached
        return float(longest)
    return float(min(grown, longest))


def jittered(delay: float, draw: float) -> float:
    """`delay` spread over its upper half by `draw` (0 ≤ draw < 1, e.g. random.random()): many
    clients that lost the same server at once do not all knock again at the same instant."""
    return delay * (0.5 + 0.5 * draw)
