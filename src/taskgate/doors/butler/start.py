"""`PUT|POST /v4/reloadtask/{taskId}/start`: Butler's request in, Butler's answer out.

The door only translates: the selectors go to the core's one start function with Butler's
options (canonical ids, all-must-exist for ids only, the start filter on the caller), and the
core's per-selector outcome is sorted into Butler's buckets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from taskgate.core.starts.request import SelectorResult, StartedTask, StartRequest
from taskgate.domain.kv import KvWrite
from taskgate.domain.selectors import Selector, SelectorKind, SelectorOutcome
from taskgate.domain.started import SkippedStart, start_succeeded
from taskgate.doors.butler.guard import CALLER_KEY
from taskgate.doors.butler.wire import (
    ButlerError,
    as_string,
    has_body,
    parse_bool_query,
    parse_ttl,
    read_body,
    text_json,
    validation_error,
)
from taskgate.doors.state import services_of

MAGIC_ID = "-"
MISSING_ID = (
    'Required parameter (task ID) missing. Should be a task ID or "-" if task info is passed '
    "in body"
)
ITEM_TYPES = ("starttaskid", "starttasktag", "starttaskcustomproperty", "keyvaluestore")


@dataclass
class ButlerStartBody:
    ids: list[str]
    tags: list[str]
    properties: list[tuple[str, str]]
    kv_items: list[KvWrite]


def parse_items(path_id: str, body: Any) -> ButlerStartBody:
    parsed = ButlerStartBody([] if path_id == MAGIC_ID else [path_id], [], [], [])
    if not has_body(body):
        return parsed
    if not isinstance(body, list):
        raise validation_error("body must be array")
    for index, item in enumerate(body):
        where = f"body/{index}"
        if not isinstance(item, dict):
            raise validation_error(f"{where} must be object")
        kind = item.get("type")
        if kind is None:
            continue  # Butler ignores an item without a type
        if kind not in ITEM_TYPES:
            raise validation_error(f"{where}/type must be equal to one of the allowed values")
        payload = item.get("payload")
        if not isinstance(payload, dict):
            # Butler answers a missing payload with a 500; a clear 400 says what is wrong.
            raise validation_error(
                f"{where} must have required property 'payload'"
                if payload is None
                else f"{where}/payload must be object"
            )
        _add_item(parsed, kind, payload, f"{where}/payload")
    return parsed


def _required(payload: dict[str, Any], name: str, where: str) -> str:
    if name not in payload or payload[name] is None:
        raise validation_error(f"{where} must have required property '{name}'")
    return as_string(payload[name], f"{where}/{name}")


def _add_item(parsed: ButlerStartBody, kind: str, payload: dict[str, Any], where: str) -> None:
    if kind == "starttaskid":
        parsed.ids.append(_required(payload, "taskId", where))
    elif kind == "starttasktag":
        parsed.tags.append(_required(payload, "tag", where))
    elif kind == "starttaskcustomproperty":
        name = _required(payload, "customPropertyName", where)
        parsed.properties.append((name, _required(payload, "customPropertyValue", where)))
    else:
        fields = {
            name: as_string(payload[name], f"{where}/{name}")
            for name in ("namespace", "key", "value")
            if payload.get(name) is not None
        }
        ttl = parse_ttl(payload.get("ttl"), f"{where}/ttl")
        # Butler stores an item only when namespace, key and value are all non-empty.
        if all(fields.get(name) for name in ("namespace", "key", "value")):
            parsed.kv_items.append(
                KvWrite(fields["namespace"], fields["key"], fields["value"], ttl)
            )


def selectors_of(parsed: ButlerStartBody) -> list[Selector]:
    # Butler starts id tasks first, then tag tasks, then property tasks.
    return [
        *(Selector(SelectorKind.ID, task_id) for task_id in parsed.ids),
        *(Selector(SelectorKind.TAG, tag) for tag in parsed.tags),
        *(Selector(SelectorKind.PROPERTY, value, name) for name, value in parsed.properties),
    ]


def butler_answer(parsed: ButlerStartBody, results: list[SelectorResult]) -> dict[str, Any]:
    """Sort per-selector outcomes into Butler's response; every key is always present."""
    started: list[dict[str, str]] = []
    invalid: list[dict[str, str]] = []
    denied: list[dict[str, str]] = []
    held_back: list[dict[str, str]] = []  # existing ids not started: listed after the filtered
    by_tag: list[dict[str, str]] = []
    tag_denied: list[dict[str, str]] = []
    by_property: list[dict[str, str]] = []
    property_denied: list[dict[str, str]] = []
    id_results = results[: len(parsed.ids)]
    tag_results = results[len(parsed.ids) : len(parsed.ids) + len(parsed.tags)]
    property_results = results[len(parsed.ids) + len(parsed.tags) :]
    for given, result in zip(parsed.ids, id_results, strict=True):
        if result.outcome in (SelectorOutcome.INVALID, SelectorOutcome.NOT_FOUND):
            invalid.append({"taskId": given})
        elif result.outcome is SelectorOutcome.DENIED:
            denied.append({"taskId": given})
        else:
            for task in result.tasks:
                if _counts_as_started(task):
                    started.append({"taskId": task.task_id, "taskName": task.task_name})
                else:
                    held_back.append({"taskId": task.task_id})
    for tag, result in zip(parsed.tags, tag_results, strict=True):
        if result.outcome is SelectorOutcome.DENIED:
            tag_denied.append({"tag": tag})
        by_tag.extend(_started(result))
    for (name, value), result in zip(parsed.properties, property_results, strict=True):
        if result.outcome is SelectorOutcome.DENIED:
            property_denied.append({"name": name, "value": value})
        by_property.extend(_started(result))
    return {
        "tasksId": {"started": started, "invalid": invalid, "denied": denied + held_back},
        "tasksTag": by_tag,
        "tasksTagDenied": tag_denied,
        "tasksCP": by_property,
        "tasksCPDenied": property_denied,
    }


def _started(result: SelectorResult) -> list[dict[str, str]]:
    return [
        {"taskId": task.task_id, "taskName": task.task_name}
        for task in result.tasks
        if _counts_as_started(task)
    ]


def _counts_as_started(task: StartedTask) -> bool:
    # Butler lists a task its overlap policy skipped as started: the request was taken.
    return start_succeeded(task.execution_id, task.status, skipped=SkippedStart.COUNTS_AS_STARTED)


async def start_task(request: Request) -> Response:
    services = services_of(request)
    path_id = request.path_params["taskId"]
    if not path_id:
        raise ButlerError(400, MISSING_ID)
    must_exist = parse_bool_query(request, "allTaskIdsMustExist")
    parsed = parse_items(path_id, await read_body(request))
    if parsed.kv_items and not request.app.state.kv_enabled:
        parsed.kv_items = []  # Butler only warns when its key-value endpoints are off
    result = await services.starts.start(
        StartRequest(
            selectors=selectors_of(parsed),
            origin="butler",
            caller=request.scope["state"][CALLER_KEY],
            all_must_exist=must_exist,
            must_exist_exempts_groups=True,
            canonical_ids=True,
            kv_items=parsed.kv_items,
        )
    )
    return text_json(butler_answer(parsed, result.results), indent=2)
