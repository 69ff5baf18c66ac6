"""QRS composite events (task chaining) as taskgate chain rules, both ways.

A composite event starts its `reloadTask` when every one of its `compositeRules` ("task X
successful" = ruleState 1, "task X failed" = ruleState 2) is met within its `timeConstraint`:
a chain rule with `match: all`, `window` = the time constraint, one condition per rule and
`start` = the task. Only rules of that shape are composite events; a rule made another way
(tag selectors, several tasks to start, `any` of several conditions, parameters) is not
shown on this door.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from taskgate.domain.chains import DEFAULT_WINDOW_SECONDS, Chain, ChainSpec, Window
from taskgate.domain.qrsenums import EMPTY_GUID
from taskgate.domain.selectors import SelectorKind, normalize_task_id, parse_selector
from taskgate.domain.status import Status
from taskgate.domain.tasks import Task
from taskgate.doors.qrs.entities import MODIFIED_BY, stable_id
from taskgate.doors.qrs.wire import NEVER, QrsError, qrs_date

EVENT_TYPE_COMPOSITE = 1
RULE_STATE = {1: Status.FINISHED_SUCCESS, 2: Status.FINISHED_FAIL}
STATE_OF = {status: code for code, status in RULE_STATE.items()}
# The task kinds a composite event or rule may name; taskgate's tasks are all reload tasks.
TASK_REFS = ("reloadTask", "userSyncTask", "externalProgramTask")


def _task_ref(body: Mapping[str, Any], where: str) -> str:
    for key in TASK_REFS:
        ref = body.get(key)
        if isinstance(ref, Mapping) and ref.get("id"):
            task_id = normalize_task_id(str(ref["id"]))
            if task_id is None:
                raise QrsError(400, f"{where}.{key}.id: {ref['id']!r} is not a GUID", where)
            return task_id
    raise QrsError(400, f"{where}.reloadTask: the task is missing", f"{where}.reloadTask")


def _window(body: Mapping[str, Any]) -> float:
    constraint = body.get("timeConstraint")
    if constraint is None:
        return DEFAULT_WINDOW_SECONDS
    if not isinstance(constraint, Mapping):
        raise QrsError(400, "timeConstraint: must be an object", "timeConstraint")
    total = 0.0
    for unit, seconds in (("days", 86400), ("hours", 3600), ("minutes", 60), ("seconds", 1)):
        value = constraint.get(unit) or 0
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise QrsError(400, f"timeConstraint.{unit}: must be a number", "timeConstraint")
        total += value * seconds
    if total <= 0:
        raise QrsError(400, "timeConstraint: the window must be longer than 0", "timeConstraint")
    return total


def event_id(body: Mapping[str, Any]) -> str | None:
    raw = body.get("id")
    if raw in (None, "", EMPTY_GUID):
        return None
    found = normalize_task_id(str(raw))
    if found is None:
        raise QrsError(400, f"id: {raw!r} is not a GUID", "id")
    return found


def to_spec(body: Any, *, target: str | None = None, chain_id: str | None = None) -> ChainSpec:
    """A CompositeEvent body as a chain rule; `target` is the bundle's task when the event
    names none (Qlik-Cli's Add-QlikTrigger)."""
    if not isinstance(body, Mapping):
        raise QrsError(400, "the body must be a CompositeEvent object", "body")
    event_type = body.get("eventType", EVENT_TYPE_COMPOSITE)
    if event_type != EVENT_TYPE_COMPOSITE:
        raise QrsError(400, f"eventType: {event_type!r}: a composite event is 1", "eventType")
    rules = body.get("compositeRules")
    if not isinstance(rules, list) or not rules:
        raise QrsError(400, "compositeRules: at least one rule is needed", "compositeRules")
    when = []
    for index, rule in enumerate(rules):
        where = f"compositeRules[{index}]"
        if not isinstance(rule, Mapping):
            raise QrsError(400, f"{where}: must be an object", where)
        state = rule.get("ruleState")
        if state not in RULE_STATE:
            raise QrsError(
                400,
                f"{where}.ruleState: {state!r}: 1 (TaskSuccessful) or 2 (TaskFail)",
                f"{where}.ruleState",
            )
        when.append({"task": f"id:{_task_ref(rule, where)}", "statuses": [RULE_STATE[state]]})
    has_target = any(isinstance(body.get(k), Mapping) for k in TASK_REFS)
    start = _task_ref(body, "") if has_target or target is None else target
    name = body.get("name") or ""
    if not isinstance(name, str):
        raise QrsError(400, "name: must be a string", "name")
    fields = {
        "id": chain_id or event_id(body),
        "name": name[:200],
        "enabled": bool(body.get("enabled", True)),
        "when": when,
        "match": "all",
        "window": _window(body),
        "start": [f"id:{start}"],
    }
    try:
        return ChainSpec.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = qrs_field(".".join(str(p) for p in first["loc"]))
        raise QrsError(400, f"{field}: {first['msg']}", field) from None


def _id_of(selector_text: str) -> str | None:
    selector = parse_selector(selector_text)
    if selector.kind not in (SelectorKind.ID, SelectorKind.AUTO):
        return None
    return normalize_task_id(selector.value)


def shown(chain: Chain) -> bool:
    """Whether a rule has the shape of a composite event."""
    if chain.params or chain.on_expiry != "drop" or len(chain.start) != 1:
        return False
    if chain.match != "all" and len(chain.when) > 1:
        return False
    if _id_of(chain.start[0]) is None:
        return False
    return all(
        _id_of(c.task) is not None and len(c.statuses) == 1 and c.statuses[0] in STATE_OF
        for c in chain.when
    )


class CompositeEvents:
    """Renders rules as CompositeEvent entities, naming tasks as QRS's condensed refs."""

    def __init__(self, tasks: Mapping[str, Task], privileges: list[str] | None) -> None:
        self.tasks = tasks
        self.privileges = privileges

    def _task(self, task_id: str) -> dict[str, Any]:
        task = self.tasks.get(task_id)
        return {
            "id": task_id,
            "name": task.name if task else "",
            "taskType": 0,
            "enabled": task.enabled if task else False,
            "taskSessionTimeout": 1440,
            "maxRetries": task.retries.count if task else 0,
            "privileges": self.privileges,
        }

    def condensed(self, chain: Chain) -> dict[str, Any]:
        return {
            "id": event_guid(chain.id),
            "privileges": self.privileges,
            "name": chain.name,
            "enabled": chain.enabled,
            "eventType": EVENT_TYPE_COMPOSITE,
        }

    def full(self, chain: Chain, window: Window | None) -> dict[str, Any]:
        chain_guid = event_guid(chain.id)
        dates = {
            "createdDate": qrs_date(chain.created_at),
            "modifiedDate": qrs_date(chain.updated_at),
            "modifiedByUserName": MODIFIED_BY,
        }
        total = round(chain.window)
        rules = []
        for index, condition in enumerate(chain.when):
            met = window.met.get(index) if window else None
            rules.append(
                {
                    "id": stable_id("compositerule", chain.id, str(index)),
                    **dates,
                    "schemaPath": "CompositeEventRule",
                    "privileges": self.privileges,
                    "ruleState": STATE_OF[condition.statuses[0]],
                    "reloadTask": self._task(_id_of(condition.task) or ""),
                    "userSyncTask": None,
                    "externalProgramTask": None,
                    "operational": {
                        "id": stable_id("compositeruleoperational", chain.id, str(index)),
                        "timeStamp": qrs_date(met.at) if met else NEVER,
                        "currentState": STATE_OF.get(met.status, 0) if met else 0,
                        "privileges": self.privileges,
                    },
                }
            )
        return {
            "id": chain_guid,
            **dates,
            "schemaPath": "CompositeEvent",
            "privileges": self.privileges,
            "name": chain.name,
            "enabled": chain.enabled,
            "eventType": EVENT_TYPE_COMPOSITE,
            "reloadTask": self._task(_id_of(chain.start[0]) or ""),
            "userSyncTask": None,
            "externalProgramTask": None,
            "timeConstraint": {
                "id": stable_id("timeconstraint", chain.id),
                **dates,
                "schemaPath": "CompositeEventTimeConstraint",
                "privileges": self.privileges,
                # As the QMC writes it: minutes (360 for Qlik's default of 6 hours).
                "days": 0,
                "hours": 0,
                "minutes": total // 60,
                "seconds": total % 60,
            },
            "compositeRules": rules,
            "operational": {
                "id": stable_id("compositeoperational", chain.id),
                "timesTriggered": chain.fire_count,
                "privileges": self.privileges,
            },
        }


def event_guid(chain_id: str) -> str:
    """A rule made elsewhere may have an id that is no GUID: QRS clients get a stable one."""
    return normalize_task_id(chain_id) or str(uuid.uuid5(uuid.NAMESPACE_URL, f"chain:{chain_id}"))


def qrs_field(field: str | None) -> str | None:
    """A chain rule's field as the composite event's (for a refusal)."""
    if not field:
        return field
    parts = field.split(".")
    if parts[0] == "when" and len(parts) >= 2:
        return f"compositeRules[{parts[1]}].reloadTask.id"
    if parts[0] == "start":
        return "reloadTask.id"
    if parts[0] == "window":
        return "timeConstraint"
    return field
