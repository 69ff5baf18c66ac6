"""What the config file declares (tasks, schedules, webhooks, chain rules), as the specs the
core syncs at start-up."""

from __future__ import annotations

import uuid

from taskgate.config import Settings
from taskgate.domain.chains import ChainSpec
from taskgate.domain.configids import CONFIG_NAMESPACE, config_schedule_id
from taskgate.domain.tasks import TaskSpec
from taskgate.domain.webhooks import DeliveryRetryPolicy, WebhookSpec
from taskgate.schedules.spec import ScheduleSpec


def config_task_specs(settings: Settings) -> list[TaskSpec]:
    return [
        spec
        if spec.id
        else spec.model_copy(update={"id": uuid.uuid5(CONFIG_NAMESPACE, spec.label or spec.name)})
        for spec in (task.task_spec() for task in settings.tasks)
    ]


def config_schedule_specs(settings: Settings) -> list[tuple[str, ScheduleSpec]]:
    """(task id, schedule) for every schedule declared inside a config task, with stable ids."""
    declared: list[tuple[str, ScheduleSpec]] = []
    for task, spec in zip(settings.tasks, config_task_specs(settings), strict=True):
        task_id = str(spec.id)
        for index, schedule in enumerate(task.schedules):
            schedule_id = schedule.id or config_schedule_id(task_id, schedule.name, index)
            fields = schedule.model_dump(exclude={"id", "task"})
            declared.append(
                (
                    task_id,
                    ScheduleSpec.model_validate({**fields, "id": schedule_id, "task": task_id}),
                )
            )
    return declared


def config_webhook_specs(settings: Settings) -> list[WebhookSpec]:
    """The config's webhooks, each with a stable id (derived from its name or URL)."""
    return [
        spec
        if spec.id
        else spec.model_copy(
            update={"id": str(uuid.uuid5(CONFIG_NAMESPACE, f"webhook:{spec.name or spec.url}"))}
        )
        for spec in settings.webhooks
    ]


def config_chain_specs(settings: Settings) -> list[ChainSpec]:
    """The config's chain rules, each with a stable id (from its name, else its place)."""
    return [
        spec
        if spec.id
        else spec.model_copy(
            update={"id": str(uuid.uuid5(CONFIG_NAMESPACE, f"chain:{spec.name or index}"))}
        )
        for index, spec in enumerate(settings.chains)
    ]


def webhook_policy(settings: Settings) -> DeliveryRetryPolicy:
    delivery = settings.webhook_delivery
    return DeliveryRetryPolicy(
        delivery.first_retry_seconds, delivery.longest_retry_seconds, delivery.max_attempts
    )
