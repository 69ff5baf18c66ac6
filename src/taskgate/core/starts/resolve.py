"""Selectors to tasks, with the start filter and the caller's allow-list: starts and previews
both sit on this one resolver."""

from __future__ import annotations

from sqlalchemy import Connection

from taskgate.domain.allowlist import allows
from taskgate.domain.errors import InvalidInput
from taskgate.domain.executions import Caller
from taskgate.domain.selectors import (
    MAX_SELECTORS,
    Resolution,
    Selector,
    SelectorKind,
    SelectorOutcome,
    TaskRef,
    is_task_id,
)
from taskgate.domain.tasks import Task
from taskgate.store import tasks as task_rows


def resolve(
    conn: Connection,
    selectors: list[Selector],
    caller: Caller,
    *,
    canonical_ids: bool = False,
    found_cache: dict[Selector, list[Task]] | None = None,
) -> list[tuple[Resolution, list[Task]]]:
    """Each selector with its outcome and the tasks it names (filter and allow-list applied).

    The order of the checks is Butler's: a malformed id is invalid before the start filter is
    asked, and a filtered selector is denied without looking the task up.
    """
    if len(selectors) > MAX_SELECTORS:
        # The doors refuse more in their own words first; this holds for every other caller.
        raise InvalidInput(f"selectors: at most {MAX_SELECTORS} at once", field="selectors")
    resolved: list[tuple[Resolution, list[Task]]] = []
    for selector in selectors:
        if selector.kind is SelectorKind.ID and not is_task_id(
            selector.value, canonical=canonical_ids
        ):
            message = f"{selector.value!r} is not a task id (UUID)"
            resolved.append((Resolution(selector, SelectorOutcome.INVALID, message=message), []))
            continue
        if caller.start_filter is not None and not caller.start_filter.allows(selector):
            message = "not allowed by the start filter"
            resolved.append((Resolution(selector, SelectorOutcome.DENIED, message=message), []))
            continue
        if found_cache is None:
            found = task_rows.find(conn, selector)
        else:
            # Starts committed together see the same tasks: look each selector up once.
            if selector not in found_cache:
                found_cache[selector] = task_rows.find(conn, selector)
            found = found_cache[selector]
        if not found:
            message = "no task matches"
            resolved.append((Resolution(selector, SelectorOutcome.NOT_FOUND, message=message), []))
            continue
        denied: list[str] = []
        if caller.allowed_tasks is not None:
            allowed_tasks = caller.allowed_tasks
            denied = [t.key for t in found if not allows(allowed_tasks, t)]
            found = [t for t in found if allows(allowed_tasks, t)]
            if not found:
                message = "not on this caller's task allow-list"
                denial = Resolution(
                    selector, SelectorOutcome.DENIED, message=message, denied_ids=denied
                )
                resolved.append((denial, []))
                continue
        refs = [TaskRef(t.key, t.name, t.enabled) for t in found]
        resolved.append(
            (Resolution(selector, SelectorOutcome.MATCHED, refs, denied_ids=denied), found)
        )
    return resolved
