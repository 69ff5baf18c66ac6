"""The dashboard's small rules without a server: task filters, sessions, form parameters,
where a login may send the browser."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from taskgate.domain.taskfilter import TaskFilter
from taskgate.domain.tasks import Task
from taskgate.doors.web.forms import Form
from taskgate.doors.web.routes_auth import safe_next
from taskgate.doors.web.sessions import SessionStore
from taskgate.doors.web.starting import params_from_form


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
