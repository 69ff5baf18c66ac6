"""The event bus keeps a bounded history for streams that reconnect: bounded by count and by
the memory the kept events hold, whichever is reached first (issue 19: idle memory stays flat
however long the messages a busy server publishes)."""

from __future__ import annotations

from datetime import UTC, datetime

from taskgate.core.events import EventBus, event_bytes
from taskgate.domain.events import ExecutionEvent
from taskgate.domain.status import Status


def event(n: int, message: str = "") -> ExecutionEvent:
    return ExecutionEvent(
        execution_id=f"e{n}",
        task_id="t",
        task_name="task",
        status=Status.FINISHED_FAIL,
        at=datetime.now(UTC),
        message=message,
    )


def test_long_messages_are_kept_within_the_byte_budget() -> None:
    bus = EventBus(history=10_000, history_bytes=100_000)
    for n in range(100):
        bus.publish(event(n, "x" * 10_000))
    kept, lost = bus.since(0)
    assert 0 < len(kept) < 10  # each event weighs more than 10 kB
    assert [e.seq for e in kept] == list(range(101 - len(kept), 101))  # the newest, in order
    assert lost
    assert bus.history_bytes == sum(event_bytes(e) for e in kept) <= 100_000


def test_short_events_are_bounded_by_count() -> None:
    bus = EventBus(history=5, history_bytes=10_000_000)
    for n in range(20):
        bus.publish(event(n))
    kept, lost = bus.since(10)
    assert [e.seq for e in kept] == [16, 17, 18, 19, 20]
    assert lost
    assert bus.since(15) == (kept, False)


def test_an_event_larger_than_the_budget_is_not_kept() -> None:
    bus = EventBus(history_bytes=1_000)
    bus.publish(event(1, "y" * 5_000))
    assert bus.since(0) == ([], True)
    assert bus.history_bytes == 0
    bus.publish(event(2, "short"))
    kept, lost = bus.since(1)
    assert [e.seq for e in kept] == [2]
    assert not lost
