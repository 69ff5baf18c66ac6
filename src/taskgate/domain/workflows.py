"""The `workflow` action as data: phases of member tasks, and what a member may take from
the members of earlier phases.

    action:
      kind: workflow
      on_failure: stop            # or continue
      abort_siblings: false
      phases:
        - [refresher]                             # a phase: a list of members ...
        - members: [wf2, wf3, "tag:nightly"]      # ... or an object with its options
          max_parallel: 2
        - - task: label:report
            params:
              rows: {from: phase2.wf2.result.rows}

A member is a task selector (the text every start takes), or an object with `task` (the
selector), an optional `name` and `params`. Its name (by default the selector's value: `wf2`
for `label:wf2`) is how later phases reach it: `phase2.wf2.result.rows` is the `rows` of the
result of member `wf2` of the second phase. A parameter written `{from: PATH}` is looked up
when its phase starts; PATH starts with `params` (the workflow's own parameters) or with an
earlier phase (`phaseN`, N from 1, or the phase's `name`), then a member's name, then one of
the fields of its record (RECORD_FIELDS). A member whose selector matched several tasks has a
list of records there (`phase1.nightly[0].result`).

This module is pure: the checks a spec must pass wherever it is written (API, config file,
`run-phases`) and the rules for cycles. A running workflow's progress is
domain/workflow_state.py; starting members and following their ends is the core's
(core/workflows/).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from taskgate.domain.actions import ActionSpec
from taskgate.domain.checks import Checks
from taskgate.domain.endings import AfterCommit
from taskgate.domain.expressions import ExpressionError, Path, parse_path
from taskgate.domain.expressions.paths import Index, Key
from taskgate.domain.model import Strict
from taskgate.domain.selectors import checked_selector, parse_selector

# What a member's record holds, for `from` paths: phase2.wf2.result.rows.
RECORD_FIELDS = ("result", "status", "params", "exit_code", "execution_id", "message", "task_id")
# Workflows inside workflows at most this deep (a guard; cycles are refused when saved).
MAX_DEPTH = 16
PHASE_ROOT = "phase"
PARAMS_ROOT = "params"


def is_reference(value: Any) -> bool:
    """A member parameter written `{"from": "PATH"}`: taken from earlier members' records."""
    return isinstance(value, Mapping) and set(value) == {"from"}


class Member(Strict):
    """One entry of a phase: the tasks one selector names."""

    task: str = Field(..., min_length=1, description="Selector: label, id, name, tag, property.")
    name: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="How `from` paths of later phases name it (default: the selector's value).",
    )
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Parameters for this member only: a value, or {from: PATH} to take one from "
        "the records of earlier phases (or the workflow's params).",
    )
    checks: Checks | None = Field(
        None,
        description="Checks for this member's runs instead of its task's own (docs/checks.md); "
        "no deadline here: a deadline belongs to a task.",
    )

    @field_validator("checks")
    @classmethod
    def _no_deadline(cls, checks: Checks | None) -> Checks | None:
        if checks is not None and checks.deadline is not None:
            raise ValueError("a deadline belongs to a task, not to one member's runs")
        return checks

    @field_validator("task")
    @classmethod
    def _selector(cls, text: str) -> str:
        return checked_selector(text)

    @field_validator("params")
    @classmethod
    def _references(cls, params: dict[str, Any]) -> dict[str, Any]:
        for name, value in params.items():
            if not is_reference(value):
                continue
            text = value["from"]
            if not isinstance(text, str) or not text:
                raise ValueError(f"params.{name}.from: a path such as phase1.load.result.rows")
            try:
                parse_path(text)
            except ExpressionError as exc:
                raise ValueError(f"params.{name}.from: {exc.message}") from None
        return params

    @property
    def key(self) -> str:
        """The member's name in `from` paths."""
        return self.name or parse_selector(self.task).value

    def references(self) -> dict[str, Path]:
        """The parameters taken from other records, by name, as parsed paths."""
        return {n: parse_path(v["from"]) for n, v in self.params.items() if is_reference(v)}

    def fixed_params(self) -> dict[str, Any]:
        return {n: v for n, v in self.params.items() if not is_reference(v)}


def _member(value: Any) -> Any:
    return {"task": value} if isinstance(value, str) else value


class Phase(Strict):
    """Members started together; the next phase starts when every one of them has ended."""

    name: str | None = Field(
        None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_\-]{0,63}$",
        description="Another way `from` paths name the phase (besides phaseN).",
    )
    members: list[Member] = Field(..., min_length=1, max_length=1000)
    max_parallel: int | None = Field(
        None, ge=1, le=10000, description="At most this many members run at once (default: all)."
    )

    @field_validator("members", mode="before")
    @classmethod
    def _members(cls, members: Any) -> Any:
        return [_member(m) for m in members] if isinstance(members, list) else members


def _phase(value: Any) -> Any:
    if isinstance(value, list):
        return {"members": value}
    if isinstance(value, str):
        return {"members": [value]}
    return value


class WorkflowAction(ActionSpec):
    """Phases of other tasks, in order; the members of a phase in parallel."""

    kind: Literal["workflow"] = "workflow"
    phases: list[Phase] = Field(..., min_length=1, max_length=100)
    on_failure: Literal["stop", "continue"] = Field(
        "stop",
        description="stop: no later phase starts once a member failed (the workflow fails); "
        "continue: every phase runs, and the workflow fails at the end.",
    )
    abort_siblings: bool = Field(
        False,
        description="With on_failure stop: abort the members still running in the phase "
        "of the one that failed (default: let them finish).",
    )

    @field_validator("phases", mode="before")
    @classmethod
    def _phases(cls, phases: Any) -> Any:
        return [_phase(p) for p in phases] if isinstance(phases, list) else phases

    @model_validator(mode="after")
    def _consistent(self) -> WorkflowAction:
        problem = spec_problem(self)
        if problem is not None:
            where, message = problem
            raise ValueError(f"{where}: {message}")
        return self

    def contains(self) -> list[tuple[str, str]]:
        return [
            (f"action.phases.{p}.members.{m}.task", member.task)
            for p, phase in enumerate(self.phases)
            for m, member in enumerate(phase.members)
        ]


def phase_names(spec: WorkflowAction) -> dict[str, int]:
    """Every name a `from` path may give a phase (phase1, phase2, ..., and `name`s), with its
    index from 0."""
    names = {f"{PHASE_ROOT}{i + 1}": i for i in range(len(spec.phases))}
    for i, phase in enumerate(spec.phases):
        if phase.name is not None:
            names[phase.name] = i
    return names


def spec_problem(spec: WorkflowAction) -> tuple[str, str] | None:
    """The first thing wrong with a workflow that each part is fine with alone: (where, what).
    Phase names unique and not `phaseN` or `params`; member names unique in a phase; every
    `from` path reaching an earlier phase's member (or the workflow's params)."""
    seen_names: set[str] = set()
    for i, phase in enumerate(spec.phases):
        if phase.name is None:
            continue
        if phase.name in seen_names or phase.name == PARAMS_ROOT or _numbered(phase.name):
            return (
                f"phases.{i}.name",
                f"{phase.name!r} is taken (names are unique and not phaseN or params)",
            )
        seen_names.add(phase.name)
    names = phase_names(spec)
    keys = [[m.key for m in phase.members] for phase in spec.phases]
    for i, phase in enumerate(spec.phases):
        first: dict[str, int] = {}
        for j, member in enumerate(phase.members):
            if member.key in first:
                return (
                    f"phases.{i}.members.{j}",
                    f"phase {i + 1} has two members named {member.key!r} "
                    f"(members {first[member.key]} and {j}); give one a `name`",
                )
            first[member.key] = j
            for param, path in member.references().items():
                where = f"phases.{i}.members.{j}.params.{param}.from"
                problem = _reference_problem(path, i, names, keys)
                if problem is not None:
                    return where, problem
    return None


def _numbered(name: str) -> bool:
    return name.startswith(PHASE_ROOT) and name[len(PHASE_ROOT) :].isdigit()


def _reference_problem(
    path: Path, phase: int, names: Mapping[str, int], keys: Sequence[Sequence[str]]
) -> str | None:
    steps = path.steps
    root = path.root
    if root == PARAMS_ROOT:
        return None
    if root is None or root not in names:
        return (
            f"{path.text!r} starts with neither params nor a phase "
            f"(phase1 ... phase{len(keys)}{', or a phase name' if len(names) > len(keys) else ''})"
        )
    source = names[root]
    if source >= phase:
        return (
            f"{path.text!r} names phase {source + 1}, which has not ended when phase "
            f"{phase + 1} starts: only earlier phases can be read"
        )
    if len(steps) < 2 or not isinstance(steps[1], Key):
        return f"{path.text!r}: name a member of phase {source + 1} after {root}"
    member = steps[1].name
    if member not in keys[source]:
        known = ", ".join(keys[source])
        return f"{path.text!r}: phase {source + 1} has no member {member!r} (it has {known})"
    if len(steps) >= 3:
        third = steps[2]
        if isinstance(third, Key) and third.name not in RECORD_FIELDS:
            return (
                f"{path.text!r}: a member's record has {', '.join(RECORD_FIELDS)}, "
                f"not {third.name!r}"
            )
        if not isinstance(third, Key | Index):
            return f"{path.text!r}: name a field of the member's record"
    return None


class WorkflowStarter:
    """What the workflow action asks of the server: start a parked workflow's first phase,
    in the transaction `conn` that parks it (the core's workflow service is one)."""

    def begin(self, conn: Any, execution_id: str, after: AfterCommit) -> None:
        raise NotImplementedError


# -- cycles ------------------------------------------------------------------------------------


def find_cycle(start: str, inside: Callable[[str], Iterable[str]]) -> list[str] | None:
    """A path start -> ... -> start through `inside` (the tasks a task contains), or None."""
    path: list[str] = [start]
    done: set[str] = set()
    stack: list[Iterator[str]] = [iter(inside(start))]
    while stack:
        nxt = next(stack[-1], None)
        if nxt is None:
            stack.pop()
            done.add(path.pop())
            continue
        if nxt == start:
            return [*path, start]
        if nxt in path or nxt in done:
            continue
        path.append(nxt)
        stack.append(iter(inside(nxt)))
    return None
