"""Ad-hoc workflows: phases given in the request, run as one workflow execution."""

from typing import Any

from fastapi import APIRouter
from pydantic import Field

from taskgate.domain.executions import Execution
from taskgate.domain.workflows import WorkflowAction
from taskgate.doors.api.deps import Core, Operator
from taskgate.doors.api.routes_start import ApiOrigin

router = APIRouter(prefix="/api/v1/workflows", tags=["workflows"])
MAX_WAIT = 3600.0


class RunPhasesBody(WorkflowAction):
    """The phases (as a workflow task writes them: `[["wf1"], ["wf2", "wf3a"]]`, or phase
    objects with `max_parallel`), the workflow's parameters, and how long to wait."""

    params: dict[str, Any] = Field(default_factory=dict)
    wait: float = Field(0, ge=0, le=MAX_WAIT, description="Seconds to wait for the end.")
    origin: ApiOrigin = "api"


class RunPhasesAnswer(Execution):
    timed_out: bool


@router.post("/run", response_model=RunPhasesAnswer)
async def run_phases(body: RunPhasesBody, core: Core, caller: Operator) -> dict[str, Any]:
    """Run the phases as one recorded workflow execution (no task is stored): every member
    must name a task the caller may start. Answers the execution with its tree, at once or,
    with `wait`, once it ended (or `timed_out`)."""
    spec = WorkflowAction.model_validate(body.model_dump(exclude={"params", "wait", "origin"}))
    execution, timed_out = await core.workflows.run_phases(
        spec, body.params, caller, origin=body.origin, wait=body.wait
    )
    return {**execution.model_dump(), "timed_out": timed_out}
