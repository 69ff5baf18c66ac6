"""Chain rules: when tasks end in given statuses, start other tasks.

A rule has conditions (`when`: a task selector and the end statuses that count), a `match`
(`any`: each matching end fires the rule at once; `all`: every condition must be met within
`window` of the first end that met one, as Qlik Sense's composite events), what to do when an
`all` window expires unmet (`on_expiry`: `drop` as Qlik, or `fire` with the ends that did
happen, as Aperture's "trigger if time expires"), and what to start (`start`: selectors, with
`params` that may be templates over the ends that fired it).

This module is pure: the rule's shape and validation, the window's bookkeeping, the firing
key that keeps a rule from firing twice for the same ends, and the cycle finder.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from taskgate.domain.expressions import ExpressionError, check_deep
from taskgate.domain.model import Strict
from taskgate.domain.selectors import (
    Selector,
    SelectorKind,
    checked_selector,
    normalize_task_id,
)
from taskgate.domain.status import Status

CHAIN_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"
# Qlik's default time constraint for a composite event (minutes: 360).
DEFAULT_WINDOW_SECONDS = 6 * 3600.0
MAX_WINDOW_SECONDS = 366 * 86400.0
# Chain steps one start may be away from a start nobody chained: a runaway stops here even
# when a rule allows a cycle without a `max_depth` of its own.
MAX_CHAIN_DEPTH = 20
MAX_CONDITIONS = 50
# The statuses an execution can end in and so fire a rule (a skipped start never ran).
END_STATUSES = frozenset(
    {Status.FINISHED_SUCCESS, Status.FINISHED_FAIL, Status.ABORTED, Status.ERROR}
)
ChainSource = Literal["api", "config", "qrs"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """Seconds from a number of seconds or a text such as `90s`, `30m`, `6h`, `1d`."""
    if isinstance(value, bool):
        raise ValueError("must be a number of seconds or a duration such as '6h'")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    raise ValueError("must be a number of seconds or a duration such as '90s', '30m', '6h', '1d'")


class ChainCondition(Strict):
    """One condition: `task` (a selector) ended in one of `statuses`."""

    task: str = Field(
        ...,
        min_length=1,
        max_length=500,
        description="A task selector (id, label:, name:, tag:, property:) whose runs count.",
    )
    statuses: list[Status] = Field(
        default_factory=lambda: [Status.FINISHED_SUCCESS],
        description="The end statuses that meet the condition (default: finished_success).",
    )

    @field_validator("task")
    @classmethod
    def _selector(cls, task: str) -> str:
        return checked_selector(task)

    @field_validator("statuses")
    @classmethod
    def _end_statuses(cls, statuses: list[Status]) -> list[Status]:
        if not statuses:
            raise ValueError("name at least one end status")
        for status in statuses:
            if status not in END_STATUSES:
                allowed = ", ".join(sorted(s.value for s in END_STATUSES))
                raise ValueError(f"{status.value!r} is not an end status; one of {allowed}")
        return list(dict.fromkeys(statuses))

    def counts(self, status: Status) -> bool:
        return status in self.statuses


class ChainSpec(Strict):
    """What a caller writes to create or replace a chain rule."""

    id: str | None = Field(
        None,
        pattern=CHAIN_ID_PATTERN,
        description="The rule's id; made from the name when left out.",
    )
    name: str = Field("", max_length=200, description="What people see in lists and events.")
    enabled: bool = Field(True, description="A disabled rule is kept but fires nothing.")
    when: list[ChainCondition] = Field(
        ...,
        min_length=1,
        max_length=MAX_CONDITIONS,
        description="The conditions: a task selector and the end statuses that count.",
    )
    match: Literal["any", "all"] = Field(
        "any",
        description="`any`: each end that meets a condition fires; `all`: every condition "
        "must be met within `window` (Qlik's composite events).",
    )
    window: float = Field(
        DEFAULT_WINDOW_SECONDS,
        description="Seconds (or '6h', '30m') within which every condition of an `all` "
        "rule must be met, counted from the first end that met one.",
    )
    on_expiry: Literal["drop", "fire"] = Field(
        "drop",
        description="An `all` window that expires unmet: forget it (Qlik), or fire with the "
        "ends that did happen (Aperture's 'trigger if time expires').",
    )
    start: list[str] = Field(
        ...,
        min_length=1,
        max_length=100,
        description="The selectors to start when the rule fires.",
    )
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Parameters of the chained start; strings may be templates such as "
        "'{{ trigger.result.rows }}' or '{{ triggers[1].params.region }}'.",
    )
    max_depth: int | None = Field(
        None,
        ge=1,
        le=MAX_CHAIN_DEPTH,
        description="Allows this rule in a cycle of rules: it fires only for ends at most "
        "this many chain steps from a start nobody chained.",
    )

    @field_validator("window", mode="before")
    @classmethod
    def _window(cls, value: Any) -> float:
        seconds = parse_duration(value)
        if seconds <= 0:
            raise ValueError("must be more than 0 seconds")
        if seconds > MAX_WINDOW_SECONDS:
            raise ValueError(f"must be at most {MAX_WINDOW_SECONDS:.0f} seconds (366 days)")
        return seconds

    @field_validator("start", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("start")
    @classmethod
    def _selectors(cls, start: list[str]) -> list[str]:
        return [checked_selector(text) for text in start]

    @field_validator("params")
    @classmethod
    def _templates(cls, params: dict[str, Any]) -> dict[str, Any]:
        try:
            check_deep(params)
        except ExpressionError as exc:
            raise ValueError(str(exc)) from None
        return params

    @model_validator(mode="after")
    def _fire_on_expiry_needs_all(self) -> ChainSpec:
        if self.on_expiry == "fire" and self.match != "all":
            raise ValueError("on_expiry: fire needs match: all (an `any` rule has no window)")
        return self

    @property
    def windowed(self) -> bool:
        return self.match == "all"


class Chain(ChainSpec):
    id: str
    source: ChainSource = "api"
    fire_count: int = 0
    created_at: datetime
    updated_at: datetime


# --- what fired it ----------------------------------------------------------------------


@dataclass(frozen=True)
class ChainLink:
    """What a chained start records: its rule, the executions whose ends fired it, and how
    many chain steps it is from a start nobody chained."""

    chain_id: str
    triggered_by: tuple[str, ...]
    depth: int


@dataclass(frozen=True)
class Trigger:
    """An end that met a condition, with what templates may read of it."""

    execution_id: str
    task_id: str
    task_name: str
    status: Status
    at: datetime
    depth: int
    params: Mapping[str, Any]
    result: Any

    def scope(self) -> dict[str, Any]:
        return {
            "execution_id": self.execution_id,
            "task_id": self.task_id,
            "task_name": self.task_name,
            "status": self.status.value,
            "at": self.at.isoformat(),
            "params": dict(self.params),
            "result": self.result,
        }

    def to_json(self) -> dict[str, Any]:
        return {**self.scope(), "depth": self.depth}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Trigger:
        return cls(
            execution_id=data["execution_id"],
            task_id=data["task_id"],
            task_name=data["task_name"],
            status=Status(data["status"]),
            at=datetime.fromisoformat(data["at"]),
            depth=int(data.get("depth", 0)),
            params=data.get("params") or {},
            result=data.get("result"),
        )


def template_scope(fired: list[Trigger | None]) -> dict[str, Any]:
    """What a rule's parameter templates see: `trigger` (the end that fired it: the last one
    for an `all` rule) and `triggers` (one per condition, in order; null for a condition an
    expired window never met)."""
    present = [t for t in fired if t is not None]
    last = max(present, key=lambda t: t.at) if present else None
    return {
        "trigger": last.scope() if last else None,
        "triggers": [t.scope() if t else None for t in fired],
    }


def firing_key(fired: Iterable[Trigger | None]) -> str:
    """The same ends fire a rule once: a replayed end finds its key taken."""
    ids = sorted({t.execution_id for t in fired if t is not None})
    if len(ids) == 1:
        return ids[0]
    return hashlib.sha256(",".join(ids).encode()).hexdigest()[:64]


def chain_depth(fired: Iterable[Trigger | None]) -> int:
    """How many chain steps the start these ends fire is from a start nobody chained."""
    return 1 + max((t.depth for t in fired if t is not None), default=0)


def depth_allowed(rule: ChainSpec, depth: int) -> bool:
    return depth <= (rule.max_depth or MAX_CHAIN_DEPTH)


# --- which ends a condition names ---------------------------------------------------------


def selector_names(selector: Selector, task_id: str, spec: Mapping[str, Any]) -> bool | None:
    """Whether `selector` names the task of an ended execution (`spec`: the task's definition
    as the execution recorded it), decided without the database when it can be: None when
    only a lookup can tell (a bare text that is the task's name, unless some task has that
    label)."""
    kind, value = selector.kind, selector.value
    if kind is SelectorKind.AUTO:
        wanted = normalize_task_id(value)
        if wanted is not None:
            return wanted == task_id
        if spec.get("label") == value:
            return True
        return None if spec.get("name") == value else False
    if kind is SelectorKind.ID:
        return normalize_task_id(value) == task_id
    if kind is SelectorKind.LABEL:
        return spec.get("label") == value
    if kind is SelectorKind.NAME:
        return selector.names(str(spec.get("name", "")))
    if kind is SelectorKind.TAG:
        return value in (spec.get("tags") or [])
    if kind is SelectorKind.PROPERTY:
        return value in ((spec.get("properties") or {}).get(selector.property_name) or [])
    return None


# --- windows ------------------------------------------------------------------------------


@dataclass
class Window:
    """An `all` rule's open window: the ends that met each condition so far."""

    opened_at: datetime
    expires_at: datetime
    met: dict[int, Trigger]

    @classmethod
    def open(cls, rule: ChainSpec, at: datetime) -> Window:
        return cls(at, at + timedelta(seconds=rule.window), {})

    def expired(self, now: datetime) -> bool:
        return now > self.expires_at

    def complete(self, rule: ChainSpec) -> bool:
        return all(i in self.met for i in range(len(rule.when)))

    def fired(self, rule: ChainSpec) -> list[Trigger | None]:
        return [self.met.get(i) for i in range(len(rule.when))]

    def met_json(self) -> dict[str, Any]:
        return {str(i): t.to_json() for i, t in self.met.items()}

    @classmethod
    def from_row(cls, opened_at: datetime, expires_at: datetime, met: Mapping[str, Any]) -> Window:
        return cls(opened_at, expires_at, {int(i): Trigger.from_json(t) for i, t in met.items()})


# --- cycles -------------------------------------------------------------------------------


def find_cycle(edges: Mapping[str, Iterable[str]], through: Iterable[str]) -> list[str] | None:
    """A cycle of the graph `edges` (task → tasks its rules start) that passes through one of
    the nodes `through`, as a path that ends where it began; None when there is none."""
    for origin in through:
        path = _path(edges, origin, origin, [origin], set())
        if path is not None:
            return path
    return None


def _path(
    edges: Mapping[str, Iterable[str]], node: str, goal: str, path: list[str], seen: set[str]
) -> list[str] | None:
    for following in edges.get(node, ()):
        if following == goal:
            return [*path, goal]
        if following in seen:
            continue
        seen.add(following)
        found = _path(edges, following, goal, [*path, following], seen)
        if found is not None:
            return found
    return None
