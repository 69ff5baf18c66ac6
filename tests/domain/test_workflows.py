"""The workflow spec: its shorthands, the checks it passes wherever it is written, cycles,
and the progress record."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

import taskgate.engine.actions  # noqa: F401  (registers the kinds tasks validate against)
from taskgate.domain.status import Status
from taskgate.domain.tasks import TaskSpec
from taskgate.domain.workflow_state import WAITING, PhaseState, Unit, WorkflowState, to_start
from taskgate.domain.workflows import WorkflowAction, find_cycle


def spec(phases: Any, **options: Any) -> WorkflowAction:
    return WorkflowAction.model_validate({"kind": "workflow", "phases": phases, **options})


def refused(phases: Any, **options: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        spec(phases, **options)
    return str(caught.value)


def test_shorthands_become_one_shape() -> None:
    flow = spec(
        [
            "wf1",
            ["wf2", "label:wf3a", {"task": "wf3b", "name": "third"}],
            {"members": ["tag:nightly"], "max_parallel": 2, "name": "last"},
        ]
    )
    assert [[m.task for m in p.members] for p in flow.phases] == [
        ["wf1"],
        ["wf2", "label:wf3a", "wf3b"],
        ["tag:nightly"],
    ]
    assert [m.key for m in flow.phases[1].members] == ["wf2", "wf3a", "third"]
    assert flow.phases[2].max_parallel == 2
    assert flow.on_failure == "stop" and flow.abort_siblings is False
    # Stored as the long form, which reads back the same.
    dumped = flow.model_dump(mode="json")
    assert WorkflowAction.model_validate(dumped) == flow
    assert dumped["phases"][0] == {
        "name": None,
        "members": [{"task": "wf1", "name": None, "params": {}, "checks": None}],
        "max_parallel": None,
    }


def test_a_task_whose_action_is_a_workflow() -> None:
    task = TaskSpec.model_validate(
        {"name": "nightly", "action": {"kind": "workflow", "phases": [["a"], ["b", "c"]]}}
    )
    assert isinstance(task.action, WorkflowAction)
    assert task.action.contains() == [
        ("action.phases.0.members.0.task", "a"),
        ("action.phases.1.members.0.task", "b"),
        ("action.phases.1.members.1.task", "c"),
    ]


@pytest.mark.parametrize(
    ("phases", "options", "where"),
    [
        ([], {}, "phases"),
        ([[]], {}, "phases.0.members"),
        ([["a"], {"members": []}], {}, "phases.1.members"),
        ([{"members": ["a"], "max_parallel": 0}], {}, "phases.0.max_parallel"),
        ([{"members": ["a"], "max_parallel": -1}], {}, "phases.0.max_parallel"),
        ([["a"]], {"on_failure": "retry"}, "on_failure"),
        ([[""]], {}, "phases.0.members.0.task"),
        ([["property:x"]], {}, "phases.0.members.0.task"),
        ([[{"task": "a", "surprise": 1}]], {}, "phases.0.members.0.surprise"),
    ],
)
def test_bad_shapes_name_their_field(phases: Any, options: Any, where: str) -> None:
    with pytest.raises(ValidationError) as caught:
        spec(phases, **options)
    locations = [".".join(str(p) for p in e["loc"]) for e in caught.value.errors()]
    assert where in locations, locations


def member_from(path: Any) -> dict[str, Any]:
    return {"task": "b", "params": {"rows": {"from": path}}}


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("phase1.a.result.rows", None),
        ("first.a.status", None),
        ("phase1.a", None),
        ("params.region", None),
        ("phase1.a[0]", None),
        ("phase2.b.result", "has not ended when phase 2 starts"),
        ("phase3.c.result", "has not ended when phase 2 starts"),
        ("phase9.a.result", "starts with neither params nor a phase"),
        ("rows", "starts with neither params nor a phase"),
        ("phase1.nobody.result", "phase 1 has no member 'nobody' (it has a)"),
        ("phase1.a.output", "a member's record has result, status"),
        ("phase1", "name a member of phase 1"),
        ("phase1.a..result", "expected a key"),
        ("phase1.a[", "expected a number"),
        ("", "a path such as phase1.load.result.rows"),
        (3, "a path such as phase1.load.result.rows"),
    ],
)
def test_from_paths_reach_earlier_phases_only(path: Any, words: str | None) -> None:
    phases = [{"name": "first", "members": ["a"]}, [member_from(path)], ["c"]]
    if words is None:
        flow = spec(phases)
        assert "rows" in flow.phases[1].members[0].references()
        return
    message = refused(phases)
    assert words in message, message
    assert "params.rows" in message, message


def test_a_literal_object_parameter_is_not_a_reference() -> None:
    flow = spec([["a"], [{"task": "b", "params": {"cfg": {"from": "x", "to": "y"}}}]])
    member = flow.phases[1].members[0]
    assert member.references() == {}
    assert member.fixed_params() == {"cfg": {"from": "x", "to": "y"}}


def test_members_of_a_phase_need_distinct_names() -> None:
    message = refused([["a", "label:a"]])
    assert "phases.0.members.1" in message and "two members named 'a'" in message
    spec([["a", {"task": "label:a", "name": "again"}]])  # named apart: fine


def test_phase_names_are_unique_and_not_taken() -> None:
    assert "phases.1.name" in refused(
        [{"name": "x", "members": ["a"]}, {"name": "x", "members": ["b"]}]
    )
    assert "phases.0.name" in refused([{"name": "phase2", "members": ["a"]}, ["b"]])
    assert "phases.0.name" in refused([{"name": "params", "members": ["a"]}])


def test_find_cycle_names_the_way_back() -> None:
    graph = {"A": ["B", "X"], "B": ["C"], "C": ["A"], "X": []}
    assert find_cycle("A", lambda t: graph.get(t, [])) == ["A", "B", "C", "A"]
    assert find_cycle("X", lambda t: graph.get(t, [])) is None
    assert find_cycle("S", lambda t: ["S"] if t == "S" else []) == ["S", "S"]
    # A cycle that does not pass through the start is not this task's: it ends anyway.
    loop = {"S": ["L1"], "L1": ["L2"], "L2": ["L1"]}
    assert find_cycle("S", lambda t: loop.get(t, [])) is None
    # Diamonds are visited once each.
    wide = {str(i): [str(i + 1), str(i + 2)] for i in range(200)}
    assert find_cycle("0", lambda t: wide.get(t, [])) is None


def test_progress_reads_back_as_written() -> None:
    flow = spec([["a", "tag:t"], {"members": ["c"], "max_parallel": 1}])
    state = WorkflowState.new(flow, ["w"])
    first = state.phases[0]
    first.status, first.units, first.ended = "running", 3, 1
    first.waiting = [Unit(1, "t", "tag:t", "t2", "T2")]
    first.never = [Unit(0, "a", "a", None, "", Status.NEVER_STARTED.value, "no task matches")]
    state.record_failure(1, "a", "never_started", "no task matches")
    again = WorkflowState.from_json(state.to_json())
    assert again == state
    assert again.failures == ["phase 1 member a: never_started (no task matches)"]
    assert (first.started, first.running, first.done) == (1, 0, False)
    first.waiting = []  # started: it runs
    assert (first.running, first.done) == (1, False)
    first.ended += 1
    assert first.done
    assert not state.phases[1].done  # not begun


def test_waiting_units_start_within_max_parallel() -> None:
    phase = PhaseState(
        1, None, "running", units=5, waiting=[Unit(i, f"m{i}", f"m{i}") for i in range(5)]
    )
    assert len(to_start(phase, None)) == 5
    first = to_start(phase, 2)
    assert [u.key for u in first] == ["m0", "m1"]
    phase.waiting = phase.waiting[2:]  # started: they run now
    assert phase.running == 2
    assert to_start(phase, 2) == []
    phase.ended += 1
    assert [u.key for u in to_start(phase, 2)] == ["m2"]
    assert all(u.status == WAITING for u in phase.waiting)


def test_skip_rest_marks_later_phases_and_units_not_started() -> None:
    flow = spec([{"members": ["a", "b"], "max_parallel": 1}, ["c"], ["d"]])
    state = WorkflowState.new(flow, [])
    state.phases[0].status, state.phases[0].units, state.phases[0].ended = "running", 2, 1
    state.phases[0].waiting = [Unit(1, "b", "b", "tb", "b")]
    state.skip_rest("a failed in phase 1")
    assert [p.status for p in state.phases[1:]] == ["skipped", "skipped"]
    assert state.phases[1].reason == "a failed in phase 1"
    [skipped] = state.phases[0].never
    assert (skipped.key, skipped.status) == ("b", "skipped")
    assert skipped.message == "not started: a failed in phase 1"
    assert state.phases[0].done
