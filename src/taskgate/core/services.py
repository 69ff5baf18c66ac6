"""The core services a door may call, built once per process."""

from __future__ import annotations

from dataclasses import dataclass

from taskgate.core.access import AccessPolicy
from taskgate.core.context import CoreContext
from taskgate.core.executions import ExecutionService
from taskgate.core.schedules import SchedulerService
from taskgate.core.start import StartService
from taskgate.core.tasks import TaskService


@dataclass
class Services:
    ctx: CoreContext
    tasks: TaskService
    starts: StartService
    executions: ExecutionService
    access: AccessPolicy
    schedules: SchedulerService

    @classmethod
    def build(cls, ctx: CoreContext, *, auth_none: bool) -> Services:
        executions = ExecutionService(ctx)
        starts = StartService(ctx, executions)
        return cls(
            ctx=ctx,
            tasks=TaskService(ctx),
            starts=starts,
            executions=executions,
            access=AccessPolicy(ctx.db, auth_none=auth_none),
            schedules=SchedulerService(ctx, starts),
        )
