"""What a start asks for, and what it answers: the types every door speaks."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from taskgate.domain.chains import ChainLink
from taskgate.domain.checks import Checks
from taskgate.domain.events import ExecutionEvent
from taskgate.domain.executions import Caller
from taskgate.domain.kv import KvWrite
from taskgate.domain.selectors import Selector, SelectorOutcome
from taskgate.domain.status import Status


@dataclass
class StartRequest:
    selectors: list[Selector]
    origin: str
    caller: Caller
    params: dict[str, Any] = field(default_factory=dict)
    all_must_exist: bool = False
    # Butler's reading of all_must_exist: it covers only selectors that name one task; tag and
    # property selectors never block and are never blocked.
    must_exist_exempts_groups: bool = False
    # Accept ids only in the lower-case form Qlik writes (Butler's check); else any UUID case.
    canonical_ids: bool = False
    # Written in the start's transaction, before any execution is created.
    kv_items: list[KvWrite] = field(default_factory=list)
    idempotency_key: str | None = None
    wait: float = 0.0
    # A start made for another execution (a workflow's member): that execution, and its phase.
    parent_id: str | None = None
    phase: int | None = None
    # Checks for the runs this start makes, instead of their tasks' (a workflow member's).
    checks: Checks | None = None
    # A start a chain rule made: the rule and the ends that fired it.
    chain: ChainLink | None = None
    member: str | None = None

    def fingerprint(self) -> str:
        body: dict[str, Any] = {
            "selectors": [str(s) for s in self.selectors],
            "params": self.params,
            "all_must_exist": self.all_must_exist,
            "origin": self.origin,
            "kv": [vars(item) for item in self.kv_items],
        }
        if self.checks is not None:
            body["checks"] = self.checks.model_dump(mode="json")
        return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


class StartedTask(BaseModel):
    task_id: str
    task_name: str
    execution_id: str | None
    status: Status
    reason: str = ""


class SelectorResult(BaseModel):
    selector: str
    outcome: SelectorOutcome
    message: str = ""
    # A factory, not `[]`: pydantic deep-copies a mutable default for every instance.
    tasks: list[StartedTask] = Field(default_factory=list)
    denied_task_ids: list[str] = Field(
        default_factory=list,
        description="Tasks this selector matched that the caller's key may not start (ids only).",
    )


class ExecutionRef(BaseModel):
    id: str
    task_id: str
    task_name: str
    status: Status


class StartResult(BaseModel):
    results: list[SelectorResult]
    executions: list[ExecutionRef]
    started: int
    timed_out: bool = False
    replayed: bool = Field(
        False, description="The answer stored for this Idempotency-Key; nothing new started."
    )


@dataclass
class PendingStart:
    """A start written in a transaction that is not yet committed, with what to publish."""

    result: StartResult
    events: list[ExecutionEvent]
    replayed: bool = False
    # What the executor claimed in the same transaction; None: it did not try.
    claimed: Sequence[object] | None = None


class PreviewTask(BaseModel):
    task_id: str
    task_name: str
    enabled: bool


class PreviewResult(BaseModel):
    selector: str
    outcome: SelectorOutcome
    message: str = ""
    tasks: list[PreviewTask] = Field(default_factory=list)
