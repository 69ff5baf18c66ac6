"""Stable ids for what the config file declares without an id.

A task, webhook or schedule written in the config keeps the same id across restarts, so the
rows it owns (executions, deliveries, a schedule's next slot) stay its own. The ids are UUID5s
under the namespaces below; changing a namespace would give every such thing a new id.
"""

from __future__ import annotations

import uuid

# Tasks (from their label or name) and webhooks (from `webhook:` and their name or URL).
CONFIG_NAMESPACE = uuid.UUID("6f0c1f4e-8a53-4c1e-9a55-7d1f3c2b9e10")
# Schedules came with a namespace of their own; ids already stored were made under it.
_SCHEDULE_NAMESPACE = uuid.UUID("3b0c7a52-4b9e-4f7e-8d3c-2f6a1c9e5d21")


def config_schedule_id(task_id: str, name: str, index: int) -> str:
    """The id of a schedule declared inside a config task: from its name, else its position."""
    return str(uuid.uuid5(_SCHEDULE_NAMESPACE, f"{task_id}/{name or index}"))
