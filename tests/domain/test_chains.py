"""Chain rules as data: their validation, windows, firing keys and the cycle finder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from taskgate.domain.chains import (
    DEFAULT_WINDOW_SECONDS,
    ChainSpec,
    Trigger,
    Window,
    chain_depth,
    depth_allowed,
    find_cycle,
    firing_key,
    parse_duration,
    selector_names,
    template_scope,
)
from taskgate.domain.selectors import parse_selector
from taskgate.domain.status import Status

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def trigger(execution_id: str, depth: int = 0, at: datetime = NOW) -> Trigger:
    return Trigger(
        execution_id, "t", "T", Status.FINISHED_SUCCESS, at, depth, {"p": 1}, {"rows": 3}
    )


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(90, 90.0), (1.5, 1.5), ("90s", 90.0), ("30m", 1800.0), ("6h", 21600.0), ("1d", 86400.0)],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "6 hours", "-1s", True, None, "1w"])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_defaults_are_qliks() -> None:
    rule = ChainSpec.model_validate({"when": [{"task": "a"}], "start": "b"})
    assert rule.window == DEFAULT_WINDOW_SECONDS == 6 * 3600
    assert rule.match == "any" and rule.on_expiry == "drop"
    assert rule.when[0].statuses == [Status.FINISHED_SUCCESS]
    assert rule.start == ["b"]


@pytest.mark.parametrize(
    ("rule", "where"),
    [
        ({"when": [{"task": "a"}], "start": "b", "window": 0}, ("window",)),
        ({"when": [{"task": "a", "statuses": ["queued"]}], "start": "b"}, ("when", 0, "statuses")),
        ({"when": [{"task": "a", "statuses": []}], "start": "b"}, ("when", 0, "statuses")),
        ({"when": [{"task": "property:x"}], "start": "b"}, ("when", 0, "task")),
        ({"when": [{"task": "a"}], "start": "b", "on_expiry": "fire"}, ()),
        ({"when": [{"task": "a"}], "start": "b", "params": {"x": "{{ a..b }}"}}, ("params",)),
    ],
)
def test_bad_rules_name_the_field(rule: dict[str, object], where: tuple[object, ...]) -> None:
    with pytest.raises(ValidationError) as caught:
        ChainSpec.model_validate(rule)
    assert caught.value.errors()[0]["loc"] == where


def test_a_window_fires_in_condition_order() -> None:
    rule = ChainSpec.model_validate(
        {"when": [{"task": "a"}, {"task": "b"}], "match": "all", "window": "1h", "start": "c"}
    )
    window = Window.open(rule, NOW)
    assert window.expires_at == NOW + timedelta(hours=1)
    window.met[1] = trigger("e-b")
    assert not window.complete(rule)
    window.met[0] = trigger("e-a", depth=2)
    assert window.complete(rule)
    fired = window.fired(rule)
    assert [t.execution_id for t in fired if t] == ["e-a", "e-b"]
    assert chain_depth(fired) == 3
    assert firing_key(fired) == firing_key(list(reversed(fired)))
    assert firing_key([trigger("e-a")]) == "e-a"
    assert not window.expired(NOW + timedelta(hours=1))
    assert window.expired(NOW + timedelta(hours=1, seconds=1))
    again = Window.from_row(window.opened_at, window.expires_at, window.met_json())
    assert again.met[0].params == {"p": 1} and again.met[0].depth == 2


def test_template_scope() -> None:
    late = trigger("late", at=NOW + timedelta(minutes=1))
    scope = template_scope([late, None, trigger("early")])
    assert scope["trigger"]["execution_id"] == "late"
    assert scope["triggers"][1] is None
    assert scope["triggers"][2]["result"] == {"rows": 3}


def test_depth_limits() -> None:
    capped = ChainSpec.model_validate({"when": [{"task": "a"}], "start": "b", "max_depth": 2})
    assert depth_allowed(capped, 2) and not depth_allowed(capped, 3)
    free = ChainSpec.model_validate({"when": [{"task": "a"}], "start": "b"})
    assert depth_allowed(free, 20) and not depth_allowed(free, 21)


def test_cycles() -> None:
    edges = {"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}
    assert find_cycle(edges, ["a"]) == ["a", "b", "c", "a"]
    assert find_cycle(edges, ["d"]) is None
    assert find_cycle({"a": ["a"]}, ["a"]) == ["a", "a"]
    assert find_cycle({"a": ["b"], "b": []}, ["a", "b"]) is None


def test_which_task_a_condition_names() -> None:
    task_id = "0b7b1c50-6a47-4d63-9a55-6f0b6c1a00a1"
    spec = {
        "name": "Load sales",
        "label": "sales",
        "tags": ["nightly"],
        "properties": {"env": ["prod"]},
    }

    def names(text: str) -> bool | None:
        return selector_names(parse_selector(text), task_id, spec)

    assert names(task_id.upper()) is True
    assert names(f"id:{task_id}") is True
    assert names("id:0b7b1c50-6a47-4d63-9a55-6f0b6c1a00b2") is False
    assert names("label:sales") is True and names("sales") is True
    assert names("name:Load sales") is True and names("name:Load") is False
    assert names("tag:nightly") is True and names("tag:weekly") is False
    assert names("property:env=prod") is True and names("property:env=test") is False
    assert names("other") is False
    # A bare name: the task's, unless another task has that label; only a lookup can tell.
    assert names("Load sales") is None
