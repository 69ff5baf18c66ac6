"""Execution records as every door sees them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from taskgate.domain.startfilter import StartFilter
from taskgate.domain.status import Status


class Attempt(BaseModel):
    number: int
    status: Status
    node: str
    pid: int | None = None
    started_at: datetime
    finished_at: datetime | None = None
    exit_code: int | None = None
    message: str = ""
    # Why the attempt ended (domain/status.py EndReason); None while it runs.
    end_reason: str | None = None


class PhaseMember(BaseModel):
    """One task a workflow member named, as the workflow sees it."""

    key: str
    selector: str = ""
    task_id: str | None = None
    task_name: str = ""
    execution_id: str | None = None
    # The execution's status; `waiting` before its start (max_parallel), `never_started` when
    # it could not be started (the reason in `message`).
    status: str
    message: str = ""


class PhaseView(BaseModel):
    number: int
    name: str | None = None
    # pending, running, finished, failed, skipped (the reason in `reason`), aborted.
    status: str
    reason: str = ""
    members: list[PhaseMember]


class Execution(BaseModel):
    id: str
    task_id: str
    task_name: str
    status: Status
    origin: str
    caller: str
    params: dict[str, Any]
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_ms: int | None = None
    attempt_count: int = 0
    exit_code: int | None = None
    node: str | None = None
    result: Any = None
    message: str = ""
    log_size: int = 0
    log_dropped: int = 0
    # Why it ended (domain/status.py EndReason; None until it has), and who asked for its
    # abort, if anyone did.
    end_reason: str | None = None
    aborted_by: str | None = None
    # A chained execution: its chain rule and the executions whose ends started it.
    chain_id: str | None = None
    triggered_by: list[str] | None = None
    attempts: list[Attempt] | None = None
    # Checks broken with `on_violation: warn` (domain/checks.py): {check, on_violation, reason}.
    warnings: list[dict[str, Any]] = Field(default_factory=list)
    # The execution this one runs for (a workflow), and which of its phases (from 1).
    parent_id: str | None = None
    phase: int | None = None
    # Its member's name in that phase.
    member: str | None = None
    # A workflow's phases and its members' executions (a tree: members may be workflows),
    # when one execution is read; None in lists.
    phases: list[PhaseView] | None = None
    children: list[Execution] | None = None
    # Why it still waits, when one execution is read and the reason is known: no worker
    # listens on its route (the Celery executor; core/queues.py). None otherwise.
    queue_note: str | None = None


@dataclass(frozen=True)
class Caller:
    """Who asks: shown on executions and in the audit log; scopes idempotency keys."""

    name: str
    scope: str = "anonymous"
    allowed_tasks: frozenset[str] | None = None
    # Checked per selector before any lookup (Butler's startTaskFilter); None: no filter.
    start_filter: StartFilter | None = None
    # The key-value namespaces it may use (an execution's token); None: every one.
    kv_namespaces: frozenset[str] | None = None


SYSTEM = Caller("system", scope="system")
