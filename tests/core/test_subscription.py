"""A listener that falls behind the bus (a slow SSE client, a burst) still gets every event in
order, from the bus's history, and is told only when the history no longer reaches back."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

from taskgate.core.events import EventBus
from taskgate.domain.events import EventFilter, ExecutionEvent
from taskgate.domain.status import Status
from taskgate.doors.api.routes_events import execution_stream


def event(n: int) -> ExecutionEvent:
    return ExecutionEvent(
        execution_id=f"e{n}",
        task_id="t",
        task_name="task",
        status=Status.QUEUED,
        at=datetime.now(UTC),
    )


def publish(bus: EventBus, first: int, count: int) -> None:
    for n in range(first, first + count):
        bus.publish(event(n))


def test_a_subscriber_that_falls_behind_its_queue_gets_the_rest_from_the_history() -> None:
    async def check() -> None:
        bus = EventBus(queue_size=3, history=100)
        async with bus.subscribe() as events:
            publish(bus, 1, 10)
            first = [await events.get() for _ in range(4)]
            publish(bus, 11, 5)  # more arrive while it catches up
            rest = [await events.get() for _ in range(11)]
            assert [e.execution_id for e in first + rest] == [f"e{n}" for n in range(1, 16)]
            assert events.missed == 0
            assert events.ready() == []

    asyncio.run(check())


def test_a_subscriber_behind_the_history_gets_what_is_kept_and_is_told() -> None:
    async def check() -> None:
        bus = EventBus(queue_size=2, history=5)
        async with bus.subscribe() as events:
            publish(bus, 1, 20)
            taken = events.ready()
            # Its queue held the first two; the history the last five.
            assert [e.seq for e in taken] == [1, 2, 16, 17, 18, 19, 20]
            assert events.missed == 1
            publish(bus, 21, 1)
            assert [e.seq for e in events.ready()] == [21]
            assert events.missed == 1

    asyncio.run(check())


def test_a_resumed_subscription_starts_after_the_given_event() -> None:
    async def check() -> None:
        bus = EventBus(history=100)
        publish(bus, 1, 6)
        async with bus.subscribe(after=4) as events:
            publish(bus, 7, 1)
            assert [e.seq for e in events.ready()] == [5, 6, 7]
            assert events.missed == 0
        async with bus.subscribe() as events:
            assert events.ready() == []

    asyncio.run(check())


def test_a_slow_stream_sends_every_event_of_a_burst_and_gap_only_past_the_history() -> None:
    async def frames(bus: EventBus, count: int) -> list[tuple[str, str]]:
        """What the stream sends when `count` events come before it reads any: (kind, id)."""
        seen: list[tuple[str, str]] = []
        async for frame in execution_stream(bus, EventFilter.of(), None):
            if frame.event == "connected":
                publish(bus, 1, count)
                continue
            data = json.loads(str(frame.data))
            seen.append((str(frame.event), str(data.get("execution_id", ""))))
            if data.get("execution_id") == f"e{count}":
                break
        return seen

    async def check() -> None:
        burst = await frames(EventBus(queue_size=10, history=1000), 300)
        assert burst == [("execution", f"e{n}") for n in range(1, 301)]
        # The queue holds 10, the history the last 40: e11 to e20 are gone, and it says so.
        short = await frames(EventBus(queue_size=10, history=40), 60)
        assert short == [
            *[("execution", f"e{n}") for n in range(1, 11)],
            ("gap", ""),
            *[("execution", f"e{n}") for n in range(21, 61)],
        ]

    asyncio.run(check())
