"""The dashboard's small rules without a server: task filters, sessions, form parameters,
where a login may send the browser."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from taskgate.domain.executions import Execution
from taskgate.domain.status import Status
from taskgate.domain.taskfilter import TaskFilter
from taskgate.domain.tasks import Task
from taskgate.doors.web.forms import Form
from taskgate.doors.web.routes_auth import safe_next
from taskgate.doors.web.sessions import SessionStore
from taskgate.doors.web.starting import params_from_form
from taskgate.doors.web.timeline import timeline
from tests.web.pagecheck import unlabelled_controls


def make_task(**fields: Any) -> Task:
    now = datetime.now(UTC)
    base: dict[str, Any] = {
        "id": uuid.uuid4(),
        "name": "Reload App1",
        "label": "app1",
        "tags": ["nightly"],
        "properties": {"group": ["a", "b"]},
        "action": {"kind": "command", "argv": ["/bin/true"]},
        "created_at": now,
        "updated_at": now,
    }
    return Task.model_validate({**base, **fields})


@pytest.mark.parametrize(
    ("wanted", "matches"),
    [
        (TaskFilter(), True),
        (TaskFilter(text="APP1"), True),
        (TaskFilter(text="reload"), True),
        (TaskFilter(text="app2"), False),
        (TaskFilter(tag="nightly"), True),
        (TaskFilter(tag="weekly"), False),
        (TaskFilter(prop="group"), True),
        (TaskFilter(prop="group=b"), True),
        (TaskFilter(prop="group=c"), False),
        (TaskFilter(prop="owner"), False),
        (TaskFilter(kind="command"), True),
        (TaskFilter(kind="http"), False),
        (TaskFilter(enabled=True), True),
        (TaskFilter(enabled=False), False),
    ],
)
def test_task_filter(wanted: TaskFilter, matches: bool) -> None:
    assert wanted.matches(make_task()) is matches


def test_sessions_expire_and_the_oldest_goes_first_when_full() -> None:
    store = SessionStore(lifetime_seconds=60, max_sessions=2)
    first, second = store.create("a"), store.create("b")
    assert store.get(first.id) is first and first.csrf != second.csrf
    third = store.create(None)
    assert store.get(first.id) is None and store.get(third.id) is third
    third.expires_at = time.time() - 1
    assert store.get(third.id) is None and len(store) == 1
    assert store.get(None) is None and store.get("unknown") is None


def test_blank_fields_leave_a_parameter_to_its_default() -> None:
    task = make_task(params=[{"name": "count", "type": "int"}, {"name": "title"}])
    form = Form([("param.count", "3"), ("param.title", "  "), ("param.other", "x")])
    assert params_from_form(task, form) == {"count": "3"}


@pytest.mark.parametrize(
    ("target", "goes_to"),
    [
        ("/ui/tasks?q=a", "/ui/tasks?q=a"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("", "/"),
    ],
)
def test_login_sends_the_browser_only_to_this_server(target: str, goes_to: str) -> None:
    assert safe_next(target) == goes_to


def test_the_label_check_finds_a_control_nobody_names() -> None:
    html = (
        '<label for="a">A</label><input id="a" name="a"><label>B <select name="b"></select>'
        '</label><input name="c" aria-label="C"><input type="hidden" name="t">'
        '<textarea name="lost"></textarea>'
    )
    assert unlabelled_controls(html) == ["lost"]


def member(started: int | None, finished: int | None) -> Execution:
    at = datetime(2026, 12, 3, 6, 0, tzinfo=UTC)
    return Execution(
        id=str(uuid.uuid4()),
        task_id="t",
        task_name="m",
        status=Status.FINISHED_SUCCESS if finished is not None else Status.QUEUED,
        origin="workflow",
        caller="system",
        params={},
        created_at=at,
        started_at=None if started is None else at + timedelta(seconds=started),
        finished_at=None if finished is None else at + timedelta(seconds=finished),
    )


def test_a_timeline_puts_members_on_the_workflows_own_axis() -> None:
    now = datetime(2026, 12, 3, 7, 0, tzinfo=UTC)
    line = timeline([member(0, 50), member(50, 100), member(None, None)], now)
    assert [(b.x, b.width) for b in line.bars] == [(0.0, 50.0), (50.0, 50.0), (0.0, 0.0)]
    running = timeline([member(0, 10), member(10, None)], now)
    assert running.end == now and running.bars[1].running
    assert running.bars[0].width == 0.5  # 10 s of an hour: at least the narrowest bar
    assert timeline([member(None, None)], now).start is None
