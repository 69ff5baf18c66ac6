"""A running workflow's progress, kept on its execution (`state`): which phase runs, the
units of each phase that have no execution of their own (waiting for room, or never started),
the counts of those that have, and the failures so far. The spec these follow is
domain/workflows.py; moving the state on a member's end is the core's (core/workflows/).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from taskgate.domain.status import Status
from taskgate.domain.workflows import WorkflowAction

# A unit is one task a member named. Once started it is an execution of its own (with
# parent_id, phase and member), and only counted here; until then, or when it cannot start,
# it is kept here.
WAITING = "waiting"  # not started yet: its phase runs at most max_parallel at once
PhaseStatus = Literal["pending", "running", "finished", "failed", "skipped", "aborted"]


@dataclass
class Unit:
    """A unit without an execution: waiting for room (max_parallel), or never started (no
    task matched, the task is disabled, a `from` path found nothing, skipped after a
    failure or an abort)."""

    member: int  # index in the phase's members
    key: str
    selector: str
    task_id: str | None = None
    task_name: str = ""
    status: str = WAITING
    message: str = ""

    def describe(self) -> str:
        return describe(self.key, self.task_name)

    def to_json(self) -> list[Any]:
        return [
            self.member,
            self.key,
            self.selector,
            self.task_id,
            self.task_name,
            self.status,
            self.message,
        ]

    @classmethod
    def from_json(cls, data: Sequence[Any]) -> Unit:
        return cls(*data)


def describe(key: str, task_name: str) -> str:
    """A member as messages name it: its name, and its task's when that differs."""
    return key if task_name in ("", key) else f"{key} ({task_name})"


@dataclass
class PhaseState:
    """One phase's progress: counts of its executions, and the units that have none."""

    number: int  # from 1
    name: str | None
    status: PhaseStatus = "pending"
    reason: str = ""
    units: int = 0  # named when the phase began
    ended: int = 0  # executions of this phase that have ended
    failed: int = 0  # units that ended otherwise than with success (or never started)
    waiting: list[Unit] = field(default_factory=list)
    never: list[Unit] = field(default_factory=list)

    @property
    def started(self) -> int:
        return self.units - len(self.waiting) - len(self.never)

    @property
    def running(self) -> int:
        return self.started - self.ended

    @property
    def done(self) -> bool:
        return self.status != "pending" and not self.waiting and self.running <= 0

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "name": self.name,
            "status": self.status,
            "reason": self.reason,
            "units": self.units,
            "ended": self.ended,
            "failed": self.failed,
            "waiting": [u.to_json() for u in self.waiting],
            "never": [u.to_json() for u in self.never],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PhaseState:
        return cls(
            number=data["number"],
            name=data.get("name"),
            status=data.get("status", "pending"),
            reason=data.get("reason", ""),
            units=data.get("units", 0),
            ended=data.get("ended", 0),
            failed=data.get("failed", 0),
            waiting=[Unit.from_json(u) for u in data.get("waiting", [])],
            never=[Unit.from_json(u) for u in data.get("never", [])],
        )


@dataclass
class WorkflowState:
    """A running workflow's progress, kept on its execution (`state`) and moved only in the
    transaction that writes a member's end (or the workflow's abort). Small whatever the
    number of members: what each member did is its own execution's record."""

    phases: list[PhaseState]
    current: int = 0  # index of the phase running now
    # The members that failed, as "phase N member (task): status (message)", in order.
    failures: list[str] = field(default_factory=list)
    # No further member starts: a member failed (on_failure stop) or the workflow is aborted.
    stopping: str = ""
    # Task ids of the workflows this one runs inside, outermost first, then its own.
    lineage: list[str] = field(default_factory=list)

    @classmethod
    def new(cls, spec: WorkflowAction, lineage: list[str]) -> WorkflowState:
        return cls([PhaseState(i + 1, p.name) for i, p in enumerate(spec.phases)], lineage=lineage)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "workflow",
            "phases": [p.to_json() for p in self.phases],
            "current": self.current,
            "failures": self.failures,
            "stopping": self.stopping,
            "lineage": self.lineage,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WorkflowState:
        return cls(
            [PhaseState.from_json(p) for p in data["phases"]],
            current=data.get("current", 0),
            failures=list(data.get("failures", [])),
            stopping=data.get("stopping", ""),
            lineage=list(data.get("lineage", [])),
        )

    def record_failure(self, phase: int, who: str, status: str, message: str) -> None:
        text = f"phase {phase} member {who}: {status}"
        if message:
            text += f" ({message})"
        self.failures.append(text)

    def skip_rest(self, reason: str) -> None:
        """Record the phases not begun as skipped, and units not started in the current one."""
        for phase in self.phases[self.current + 1 :]:
            if phase.status == "pending":
                phase.status = "skipped"
                phase.reason = reason
        self.skip_waiting(self.phases[self.current], reason)

    @staticmethod
    def skip_waiting(phase: PhaseState, reason: str) -> None:
        for unit in phase.waiting:
            unit.status = Status.SKIPPED.value
            unit.message = f"not started: {reason}"
        phase.never += phase.waiting
        phase.waiting = []


def is_workflow_state(data: Any) -> bool:
    return isinstance(data, Mapping) and data.get("kind") == "workflow"


def first_failure(state: WorkflowState) -> str:
    return state.failures[0] if state.failures else ""


def to_start(phase: PhaseState, max_parallel: int | None) -> list[Unit]:
    """The waiting units that may start now, within the phase's max_parallel."""
    if max_parallel is None:
        return list(phase.waiting)
    room = max_parallel - phase.running
    return phase.waiting[: max(room, 0)]
