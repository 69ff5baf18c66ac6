"""Task definitions: what a task is and what running it means."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from taskgate.domain.actions import AnyAction
from taskgate.domain.backoff import backoff_delay
from taskgate.domain.checks import Checks
from taskgate.domain.kv import MAX_NAMESPACE_LENGTH
from taskgate.domain.model import Strict

LABEL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$"
# A Celery route: one queue name in the broker (letters, digits, . _ -).
ROUTE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$"
MAX_RETRIES = 100


TaskSource = Literal["api", "config", "qlik"]


def distinct_tags(tags: list[str]) -> list[str]:
    """Tags as a task or a schedule keeps them: each 1-200 characters, each once, in order."""
    for tag in tags:
        if not tag or len(tag) > 200:
            raise ValueError("tags must be 1-200 characters")
    return list(dict.fromkeys(tags))


class RetryPolicy(Strict):
    count: int = Field(
        0, ge=0, le=MAX_RETRIES, description="Further attempts after the first fails."
    )
    delay: float = Field(1.0, ge=0, le=86400, description="Seconds before the first retry.")
    backoff: float = Field(
        2.0, ge=1, le=10, description="Each further delay is multiplied by this."
    )
    max_delay: float = Field(3600.0, ge=0, le=86400)

    def retries_after(self, attempt_number: int, failed: bool) -> bool:
        """Whether a failed attempt `attempt_number` (1-based) is followed by another."""
        return failed and attempt_number <= self.count

    def delay_before(self, attempt_number: int) -> float:
        """Seconds to wait before attempt `attempt_number` (2 = the first retry)."""
        return backoff_delay(
            attempt_number - 1, first=self.delay, longest=self.max_delay, factor=self.backoff
        )


class Overlap(StrEnum):
    QUEUE = "queue"
    SKIP = "skip"
    ALLOW = "allow"


class Concurrency(Strict):
    max_running: int = Field(1, ge=1, le=10000)
    overlap: Overlap = Overlap.QUEUE
    max_queued: int | None = Field(
        None,
        ge=1,
        le=10_000_000,
        description="Executions of this task waiting to run at most; a start past it is "
        "refused (429, Retry-After). None: only executor.max_queued bounds it.",
    )


class ParamType(StrEnum):
    STRING = "string"
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    JSON = "json"


class ParamSpec(Strict):
    name: str = Field(..., pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
    type: ParamType = ParamType.STRING
    required: bool = False
    default: Any = None
    description: str = ""


class TaskSpec(Strict):
    """What a caller writes to create or replace a task."""

    # Built on first use: the action kinds register themselves before then.
    model_config = ConfigDict(extra="forbid", defer_build=True)

    id: uuid.UUID | None = None
    name: str = Field(..., min_length=1, max_length=200)
    label: str | None = Field(None, pattern=LABEL_PATTERN)
    description: str = Field("", max_length=4000)
    tags: list[str] = Field(default_factory=list)
    properties: dict[str, list[str]] = Field(default_factory=dict)
    enabled: bool = True
    timeout: float | None = Field(None, gt=0, le=7 * 86400, description="Seconds per attempt.")
    retries: RetryPolicy = Field(default_factory=RetryPolicy)
    concurrency: Concurrency = Field(default_factory=Concurrency)
    params: list[ParamSpec] = Field(default_factory=list)
    kv_namespaces: list[str] = Field(
        default_factory=list,
        description="Key-value namespaces a run's token may use besides those its start "
        "wrote; '*': every namespace.",
    )
    route: str | None = Field(
        None,
        pattern=ROUTE_PATTERN,
        description="With the Celery executor: the workers that run it (those listening on "
        "this route); none: the default route.",
    )
    action: AnyAction
    checks: Checks | None = Field(None, description="What a run must also satisfy to succeed.")

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: list[str]) -> list[str]:
        return distinct_tags(tags)

    @field_validator("properties")
    @classmethod
    def _properties(cls, props: dict[str, list[str]]) -> dict[str, list[str]]:
        for name, values in props.items():
            if not name or len(name) > 200 or any(not v or len(v) > 200 for v in values):
                raise ValueError("property names and values must be 1-200 characters")
        return {name: list(dict.fromkeys(values)) for name, values in props.items()}

    @field_validator("kv_namespaces")
    @classmethod
    def _namespaces(cls, namespaces: list[str]) -> list[str]:
        for namespace in namespaces:
            if not namespace or len(namespace) > MAX_NAMESPACE_LENGTH:
                raise ValueError(f"namespaces must be 1-{MAX_NAMESPACE_LENGTH} characters")
        return list(dict.fromkeys(namespaces))

    @model_validator(mode="after")
    def _action_fits_task(self) -> TaskSpec:
        self.action.check_task(self)
        return self

    @field_validator("params")
    @classmethod
    def _unique_params(cls, params: list[ParamSpec]) -> list[ParamSpec]:
        names = [p.name for p in params]
        if len(set(names)) != len(names):
            raise ValueError("parameter names must be unique")
        return params


class Task(TaskSpec):
    id: uuid.UUID
    source: TaskSource = "api"
    created_at: datetime
    updated_at: datetime

    @property
    def key(self) -> str:
        return str(self.id)
