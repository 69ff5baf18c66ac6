"""The `workflow` action: phases of other tasks, parallel inside a phase.

Its run is a moment: it parks the execution (no slot, no lease) and, in the transaction that
parks it, the workflow service starts the first phase. Everything after that happens in the
transactions that write the members' ends (core/workflows/advance.py, which the server provides
under the domain's `WorkflowStarter`: the engine's action kinds never import the core). The
spec is data in domain/workflows.py, where the core reads it too.
"""

from __future__ import annotations

from taskgate.domain.status import Status
from taskgate.domain.workflows import WorkflowAction, WorkflowStarter
from taskgate.engine.actions.contract import (
    ActionContext,
    ActionOutcome,
    ActionRunner,
    Park,
    Resources,
)
from taskgate.engine.actions.registry import register


class WorkflowRunner(ActionRunner[WorkflowAction]):
    def __init__(self, resources: Resources) -> None:
        # Looked up at run time: the server provides its workflow service once the core is
        # built, which is after the action catalog.
        self._resources = resources

    async def run(self, spec: WorkflowAction, ctx: ActionContext) -> ActionOutcome:
        service = self._resources.get(WorkflowStarter)
        if service is None:
            return ActionOutcome(Status.ERROR, message="this server runs no workflows")
        if ctx.abort.is_set():
            return ActionOutcome(Status.ABORTED, message="aborted before its first phase")
        members = sum(len(phase.members) for phase in spec.phases)
        ctx.log.write(
            f"[workflow] {len(spec.phases)} phase(s), {members} member(s), "
            f"on_failure {spec.on_failure}; it waits on its members without a slot\n"
        )
        execution_id = ctx.execution_id
        return ActionOutcome(
            Status.STARTED,
            message="running its phases",
            park=Park(None, lambda conn, after: service.begin(conn, execution_id, after)),
        )


register("workflow", WorkflowAction, WorkflowRunner)
