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
    # A chained execution: its chain rule and the executions whose ends started it.
    chain_id: str | None = None
    triggered_by: list[str] | None = None
    attempts: list[Attempt] | None = None
    # Checks broken with `on_violation: warn` (domain/checks.py): {check, on_violation, reason}.
    warnings: list[dict[str, Any]] = Field(default_factory=list)


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
