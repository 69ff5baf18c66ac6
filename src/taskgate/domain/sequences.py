"""The `sequence` action as data: a chain of HTTP requests with templates, loops and filters.

The body of a Jaseci ScheduledSequence is accepted as it is (`requests`, `persistence`; each
request with `method`, `api`, `body`, `header`, `save_to`, `save_req_to`, `ignore_error`,
`break`, `__def_loop__`), plus what Jaseci lacked: timeouts, retries, allowed hosts. Every
template, path and filter is parsed here, when the task is saved, so a typo is a 422 naming
its place rather than a failure at 3 a.m. (docs/jaseci.md lists the differences).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from taskgate.domain.actions import ActionSpec
from taskgate.domain.errors import InvalidInput
from taskgate.domain.expressions.errors import ExpressionError
from taskgate.domain.expressions.jaseci import check_templates, jaseci_path, parse_filter
from taskgate.domain.model import Strict
from taskgate.domain.selectors import SelectorKind, normalize_task_id, parse_selector
from taskgate.domain.tasks import RetryPolicy

# Starts a taskgate task and waits for it (Jaseci's `JAC` called its own API instead).
TASK_METHOD = "TASK"
# An HTTP method is a token (RFC 9110): any such name is sent as it is.
_METHOD = re.compile(r"^[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]{0,31}$")
DEFAULT_REQUEST_TIMEOUT = 30.0
DEFAULT_SEQUENCE_TIMEOUT = 600.0
MAX_DEPTH = 8


def _expression_error(exc: ExpressionError) -> ValueError:
    where = f"at {exc.where}: " if exc.where else ""
    return ValueError(f"{where}{exc.message}")


def _check(parse: Callable[[Any], object], value: Any) -> None:
    """Read `value` with one of the Jaseci parsers (at save time): what it finds wrong as the
    ValueError that pydantic reports at the field."""
    try:
        parse(value)
    except ExpressionError as exc:
        raise _expression_error(exc) from None


class Loop(Strict):
    """`__def_loop__`: run `requests` once per item of the list at `by` (that passes `filter`)."""

    by: str = Field(..., description="Path of the list to loop over, e.g. `$.data`.")
    filter: list[Any] = Field(default_factory=list)
    requests: list[SequenceRequest] = Field(..., min_length=1)

    @field_validator("by")
    @classmethod
    def _by(cls, by: str) -> str:
        _check(jaseci_path, by)
        return by

    @field_validator("filter")
    @classmethod
    def _filter(cls, raw: list[Any]) -> list[Any]:
        _check(parse_filter, raw)
        return raw


class SequenceRequest(Strict):
    """One step: an HTTP request (or `TASK`), its templates rendered just before it runs."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    method: str = Field(..., description="Any HTTP method, or TASK.")
    api: str = Field(..., min_length=1, description="URL; for TASK, the task's selector.")
    body: Any = None
    header: dict[str, Any] = Field(default_factory=dict)
    save_to: str | None = Field(None, min_length=1)
    save_req_to: str | None = Field(None, min_length=1)
    ignore_error: bool = False
    break_: list[Any] | None = Field(None, alias="break")
    def_loop: Loop | None = Field(None, alias="__def_loop__")
    timeout: float | None = Field(None, gt=0, le=86400, description="Seconds for this request.")
    retries: RetryPolicy | None = None

    @field_validator("method")
    @classmethod
    def _method(cls, method: str) -> str:
        if method.upper() == "JAC":
            raise ValueError(
                "JAC calls Jaseci's own API, which taskgate does not have: use TASK to start "
                "a taskgate task, or an HTTP method to call a Jaseci server"
            )
        if not _METHOD.match(method):
            raise ValueError(f"{method!r} is not an HTTP method")
        return method.upper()

    @field_validator("api", "save_to", "save_req_to", "body", "header")
    @classmethod
    def _templates(cls, value: Any) -> Any:
        _check(check_templates, value)
        return value

    @field_validator("break_")
    @classmethod
    def _break(cls, raw: list[Any] | None) -> list[Any] | None:
        if raw is not None:
            _check(parse_filter, raw)
        return raw


class SequenceAction(ActionSpec):
    """A Jaseci ScheduledSequence body, run by taskgate (engine/actions/sequence.py)."""

    kind: Literal["sequence"] = "sequence"
    requests: list[SequenceRequest] = Field(..., min_length=1)
    persistence: dict[str, Any] = Field(
        default_factory=dict,
        description="Initial values of `#`; the run's parameters are added over them.",
    )
    timeout: float = Field(
        DEFAULT_SEQUENCE_TIMEOUT, gt=0, le=7 * 86400, description="Seconds for the whole run."
    )
    request_timeout: float = Field(
        DEFAULT_REQUEST_TIMEOUT, gt=0, le=86400, description="Default seconds per request."
    )
    request_retries: RetryPolicy = Field(
        default_factory=RetryPolicy, description="Default retries of a failed request."
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Hosts this sequence may call, besides the server's egress.allowed_hosts.",
    )

    @model_validator(mode="after")
    def _not_too_deep(self) -> SequenceAction:
        def depth(requests: list[SequenceRequest]) -> int:
            inner = [depth(r.def_loop.requests) for r in requests if r.def_loop is not None]
            return 1 + max(inner, default=0)

        if depth(self.requests) > MAX_DEPTH:
            raise ValueError(f"loops may be nested at most {MAX_DEPTH} deep")
        return self

    @model_validator(mode="after")
    def _task_steps_at_top(self) -> SequenceAction:
        # A TASK step parks the run until the task ends; the run resumes at the next step of
        # the top-level list, so it cannot sit inside a loop or carry one.
        for number, request in enumerate(self.requests):
            if request.def_loop is not None and task_steps(request.def_loop.requests):
                raise ValueError(f"requests.{number}.__def_loop__: TASK steps run at top level")
            if request.method == TASK_METHOD:
                if request.def_loop is not None:
                    raise ValueError(f"requests.{number}: a TASK step has no __def_loop__")
                if request.body is not None and not isinstance(request.body, dict):
                    raise ValueError(f"requests.{number}.body: a TASK step's parameters: an object")
                if "{{" not in request.api:
                    try:
                        parse_selector(request.api)
                    except InvalidInput as exc:
                        raise ValueError(f"requests.{number}.api: {exc.message}") from None
        return self

    def starts(self) -> list[tuple[str, str]]:
        # Literal TASK steps: saving refuses a loop through other tasks (A starts B starts A).
        return [
            (f"action.requests.{number}.api", request.api)
            for number, request in enumerate(self.requests)
            if request.method == TASK_METHOD and "{{" not in request.api
        ]

    def check_task(self, task: Any) -> None:
        """Refuse a sequence whose TASK step names its own task: it would start itself."""
        for number, request in enumerate(self.requests):
            literal = request.method == TASK_METHOD and "{{" not in request.api
            if literal and names_task(request.api, task):
                raise ValueError(
                    f"action.requests.{number}.api: {request.api!r} is this task: "
                    "a sequence may not start itself"
                )


Loop.model_rebuild()


def names_task(selector_text: str, task: Any) -> bool:
    """Whether a TASK step's selector names `task` (a TaskSpec or Task: id, label, name)."""
    selector = parse_selector(selector_text)
    task_id = str(task.id) if getattr(task, "id", None) is not None else None
    wanted = {
        SelectorKind.ID: [task_id],
        SelectorKind.LABEL: [task.label],
        SelectorKind.NAME: [task.name],
        SelectorKind.AUTO: [task_id, task.label, task.name],
    }.get(selector.kind, [])
    value = normalize_task_id(selector.value) or selector.value
    return any(value == each for each in wanted if each)


def task_steps(requests: list[SequenceRequest]) -> list[SequenceRequest]:
    """Every `TASK` step, loops included (to refuse a sequence that starts itself)."""
    found = []
    for request in requests:
        if request.method == TASK_METHOD:
            found.append(request)
        if request.def_loop is not None:
            found.extend(task_steps(request.def_loop.requests))
    return found
