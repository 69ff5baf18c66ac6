"""The CPU one more `EventBus.listen_all` listener (the cluster counter of /metrics) adds to
each event a server hears, in process: `publish_remote` of one event, without and with the
counter, interleaved rounds, medians of CPU time (process_time).

    .venv/bin/python bench/cluster_counter.py [--events 100000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter

from taskgate.core.events import EventBus
from taskgate.domain.events import ExecutionEvent
from taskgate.domain.status import Status


def counted_bus() -> EventBus:
    """A bus with the counter `doors/metrics/collector.py` feeds from `listen_all`."""
    bus = EventBus()
    counter = Counter("changes", "changes", ["status"], registry=CollectorRegistry())
    series: dict[str, Counter] = {}

    def count(event: ExecutionEvent) -> None:
        if not event.is_status:
            return
        status = event.status.value
        child = series.get(status)
        if child is None:
            child = series[status] = counter.labels(status)
        child.inc()

    bus.listen_all(count)
    return bus


def per_event_us(bus: EventBus, event: ExecutionEvent, count: int) -> float:
    began = time.process_time()
    for _ in range(count):
        bus.publish_remote(event)
    return (time.process_time() - began) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    event = ExecutionEvent(
        execution_id="0" * 36,
        task_id="1" * 36,
        task_name="true",
        status=Status.FINISHED_SUCCESS,
        at=datetime.now(UTC),
    )
    plain: list[float] = []
    counted: list[float] = []
    for _ in range(args.rounds):
        plain.append(per_event_us(EventBus(), event, args.events))
        counted.append(per_event_us(counted_bus(), event, args.events))
    a, b = statistics.median(plain), statistics.median(counted)
    print(f"publish_remote, CPU per event: {a:.2f} us without, {b:.2f} us with the counter")
    print(f"the cluster counter adds {b - a:.2f} us per event")


if __name__ == "__main__":
    main()
