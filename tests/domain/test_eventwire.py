"""An event sent to another server comes back as the same event, marked remote."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta

from taskgate.domain.events import CHECK_VIOLATED, ExecutionEvent
from taskgate.domain.eventwire import dumps, event_fields, event_from_fields
from taskgate.domain.status import Status

AT = datetime(2026, 12, 3, 12, 0, 0, 123456, tzinfo=UTC)


def test_every_field_survives_the_trip() -> None:
    event = ExecutionEvent(
        execution_id="e1",
        task_id="t1",
        task_name="Nightly — load",
        status=Status.FINISHED_FAIL,
        at=AT,
        attempt=2,
        message="exit 3",
        origin="mqtt",
        label="nightly",
        tags=("a", "b"),
        exit_code=3,
        started_at=AT - timedelta(seconds=5),
        created_at=AT - timedelta(seconds=6),
        parent_id="w1",
        phase=2,
        seq=41,
        kind=CHECK_VIOLATED,
        check={"check": "max_duration", "on_violation": "fail"},
        chain_id="c1",
        triggered_by=("e0",),
    )
    text = dumps(event_fields(event))
    back = event_from_fields(json.loads(text))
    assert back == dataclasses.replace(event, seq=0, remote=True)


def test_defaults_are_left_out() -> None:
    event = ExecutionEvent("e1", "t1", "Task", Status.QUEUED, AT)
    assert event_fields(event) == {
        "execution_id": "e1",
        "task_id": "t1",
        "task_name": "Task",
        "status": "queued",
        "at": AT.isoformat(),
    }
    assert event_from_fields(event_fields(event)) == dataclasses.replace(event, remote=True)
