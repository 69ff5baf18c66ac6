"""The core services a door may call, built once per process."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from taskgate.core.access import AccessPolicy
from taskgate.core.authfailures import FailedAuthentications
from taskgate.core.chains import ChainService
from taskgate.core.checks.view import CheckService
from taskgate.core.connections import ConnectionState
from taskgate.core.context import CoreContext
from taskgate.core.exectoken import ExecutionTokens
from taskgate.core.executions import ExecutionService
from taskgate.core.history import ExecutionHistory
from taskgate.core.kv import KvService
from taskgate.core.queues import QueueService
from taskgate.core.schedules.service import SchedulerService
from taskgate.core.starts.bound import QueueBound
from taskgate.core.starts.service import StartService
from taskgate.core.tasks import TaskService
from taskgate.core.webhooks import WebhookService
from taskgate.core.workflows import WorkflowService
from taskgate.domain.actions import ActionSpec
from taskgate.domain.kv import KvLimits
from taskgate.domain.webhooks import DeliveryRetryPolicy


@dataclass
class Services:
    ctx: CoreContext
    tasks: TaskService
    starts: StartService
    executions: ExecutionService
    access: AccessPolicy
    tokens: ExecutionTokens
    kv: KvService
    schedules: SchedulerService
    webhooks: WebhookService
    checks: CheckService
    chains: ChainService
    # Follows workflows' members (end hooks) and runs ad-hoc phases.
    workflows: WorkflowService
    # What waits for a worker, and the workers (the Celery executor sets its inspector).
    queues: QueueService
    # An execution's history, told from what the store keeps of it.
    history: ExecutionHistory
    # Named checks /readyz asks besides the database (a door's broker connection, ...):
    # each answers (ready, detail).
    readiness: dict[str, Callable[[], tuple[bool, str]]] = field(default_factory=dict)
    # Live links to outside services by name ("mqtt"), for metrics: connected, reconnects.
    connections: dict[str, ConnectionState] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        ctx: CoreContext,
        *,
        auth_none: bool,
        kv_limits: KvLimits | None = None,
        webhook_policy: DeliveryRetryPolicy | None = None,
        check_action: Callable[[ActionSpec], None] | None = None,
        auth_failures: FailedAuthentications | None = None,
        queue_bound: QueueBound | None = None,
    ) -> Services:
        limits = kv_limits or KvLimits()
        executions = ExecutionService(ctx)
        starts = StartService(ctx, executions, limits, queue_bound)
        tokens = ExecutionTokens(ctx.db)
        # Registers its end hook: chain rules fire in the transaction of each end.
        chains = ChainService(ctx, starts)
        return cls(
            ctx=ctx,
            tasks=TaskService(ctx, check_action),
            starts=starts,
            executions=executions,
            access=AccessPolicy(ctx.db, tokens, auth_none=auth_none, failures=auth_failures),
            tokens=tokens,
            kv=KvService(ctx, limits),
            schedules=SchedulerService(ctx, starts),
            webhooks=WebhookService(ctx, webhook_policy or DeliveryRetryPolicy()),
            checks=CheckService(ctx),
            chains=chains,
            workflows=WorkflowService(ctx, starts, executions),
            queues=QueueService(ctx),
            history=ExecutionHistory(ctx, chains),
        )
