"""Token buckets per source: Butler's rate limit and the slow-down after failed keys."""

from __future__ import annotations

from taskgate.domain.buckets import TokenBuckets, retry_after_seconds, source_key


def test_a_burst_then_one_per_interval() -> None:
    buckets = TokenBuckets(3, 60.0)  # one token back every 20 s
    assert [buckets.take("a", 0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a", 0.0) == 20.0
    assert buckets.wait("a", 10.0) == 10.0
    assert buckets.wait("b", 10.0) == 0.0  # another source is not touched
    assert buckets.wait("a", 20.0) == 0.0
    assert buckets.take("a", 20.0) == 0.0
    assert buckets.remaining("a") == 0 and buckets.remaining("b") == 3


def test_waiting_takes_nothing() -> None:
    buckets = TokenBuckets(1, 10.0)
    for _ in range(5):
        assert buckets.wait("a", 0.0) == 0.0
    assert buckets.take("a", 0.0) == 0.0


def test_bounded() -> None:
    buckets = TokenBuckets(2, 60.0, max_tracked=3)
    for source in ("a", "b", "c"):
        buckets.take(source, 0.0)
    buckets.take("a", 1.0)  # a is the most recent now
    buckets.take("d", 1.0)
    assert len(buckets) == 3
    # b, the least recently seen, went first; a's debt is remembered.
    assert buckets.remaining("b") == 2 and buckets.remaining("a") == 0


def test_refilled_sources_are_forgotten_first() -> None:
    buckets = TokenBuckets(1, 1.0, max_tracked=2)
    buckets.take("old", 0.0)
    buckets.take("busy", 100.0)
    buckets.take("new", 100.0)
    assert buckets.wait("busy", 100.0) > 0  # kept: its bucket is still empty


def test_ipv6_sources_count_per_64() -> None:
    assert source_key("2001:db8:1:2:aaaa::1") == source_key("2001:db8:1:2:bbbb::9")
    assert source_key("2001:db8:1:3::1") != source_key("2001:db8:1:2::1")
    assert source_key("::ffff:10.1.2.3") == "10.1.2.3"
    assert source_key("10.1.2.3") == "10.1.2.3"
    assert source_key("") == ""


def test_retry_after() -> None:
    assert retry_after_seconds(0.1) == 1
    assert retry_after_seconds(19.2) == 20
