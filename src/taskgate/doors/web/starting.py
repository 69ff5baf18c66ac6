"""Starting a task from the dashboard: the start form's fields as parameters, and the one
start function of the core (origin `ui`)."""

from __future__ import annotations

from typing import Any

from taskgate.core.services import Services
from taskgate.core.starts.request import StartRequest, StartResult
from taskgate.domain.errors import Forbidden
from taskgate.domain.executions import Caller
from taskgate.domain.selectors import Selector, SelectorKind, SelectorOutcome
from taskgate.domain.tasks import Task
from taskgate.doors.web.forms import Form

PARAM_FIELD = "param."
ORIGIN = "ui"


def params_from_form(task: Task, form: Form) -> dict[str, Any]:
    """The declared parameters the form fills in; a blank field is left out (its default or a
    'required' refusal then comes from the core's validation). Values stay text: the core
    coerces them to each parameter's type."""
    params: dict[str, Any] = {}
    for spec in task.params:
        value = form.get(PARAM_FIELD + spec.name)
        if value.strip():
            params[spec.name] = value
    return params


async def start_task(
    services: Services, task: Task, params: dict[str, Any], caller: Caller
) -> StartResult:
    request = StartRequest(
        selectors=[Selector(SelectorKind.ID, task.key)], origin=ORIGIN, caller=caller, params=params
    )
    result = await services.starts.start(request)
    if result.results[0].outcome is SelectorOutcome.DENIED:
        raise Forbidden(f"task {task.name!r} is not on this key's allow-list", field="task")
    return result
