"""Jaseci's wire format: how parameters arrive (JSON, form, multipart; the query wins), what
`is_true` means, and the shapes of the answers (§3-§4 of the reference)."""

from __future__ import annotations

import json
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request

from taskgate.domain.errors import InvalidInput
from taskgate.domain.executions import Execution
from taskgate.domain.status import CELERY_STATE, Status

MAX_FIELDS = 200


def is_true(value: Any) -> bool:
    """Jaseci's `is_true`: boolean true, or the text "true" in any case; all else is false."""
    return value is True or (isinstance(value, str) and value.lower() == "true")


async def parameters(request: Request) -> dict[str, Any]:
    """One dict from the body (JSON object, form or multipart fields; a JSON file is decoded)
    with the query parameters over it, as Jaseci's view builds it."""
    found: dict[str, Any] = {}
    body = await request.body()
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if body:
        if kind == "application/json" or (kind.startswith("application/") and "+json" in kind):
            found = _json_object(body)
        elif kind == "application/x-www-form-urlencoded":
            found = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        elif kind == "multipart/form-data":
            found = _multipart(request.headers["content-type"], body)
        else:
            raise InvalidInput("send JSON, a form or multipart/form-data", field="Content-Type")
    found.update(request.query_params.items())
    return found


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError as exc:
        raise InvalidInput(f"the body is not JSON: {exc}", field="body") from None
    if not isinstance(value, dict):
        raise InvalidInput("the body must be a JSON object", field="body")
    return value


def _multipart(content_type: str, body: bytes) -> dict[str, Any]:
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        raise InvalidInput("a multipart body without parts", field="body")
    found: dict[str, Any] = {}
    for number, part in enumerate(message.iter_parts()):
        if number >= MAX_FIELDS:
            raise InvalidInput(f"more than {MAX_FIELDS} fields", field="body")
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        raw = part.get_payload(decode=True)
        data = raw if isinstance(raw, bytes) else b""
        if part.get_filename() is not None:
            # Jaseci decodes an uploaded JSON file (a `ctx` file) into its value.
            try:
                found[name] = json.loads(data)
            except ValueError:
                found[name] = data.decode("utf-8", "replace")
        else:
            found[name] = data.decode("utf-8", "replace")
    return found


def context_of(raw: Any) -> dict[str, Any]:
    """`ctx`: an object, or its JSON text (a form field)."""
    if raw is None or raw == "":
        return {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise InvalidInput("ctx must be a JSON object", field="ctx") from None
    if not isinstance(raw, dict):
        raise InvalidInput("ctx must be a JSON object", field="ctx")
    return raw


def report(execution: Execution) -> dict[str, Any]:
    """Jaseci's walker report for an ended run: its result as `report` (a list)."""
    result = execution.result
    reported = result if isinstance(result, list) else ([] if result is None else [result])
    body: dict[str, Any] = {
        "success": execution.status is Status.FINISHED_SUCCESS,
        "report": reported,
        "final_node": None,
        "yielded": False,
    }
    if execution.status is not Status.FINISHED_SUCCESS:
        body["errors"] = [execution.message or execution.status.value]
    body["status"] = execution.status.value
    return body


def queue_state(execution: Execution) -> dict[str, Any]:
    """`{"status": <Celery state>}`, with `result` once the run has ended (Celery's `ready`)."""
    answer: dict[str, Any] = {"status": CELERY_STATE[execution.status]}
    if execution.status.is_terminal:
        answer["result"] = {"anchor": None, "response": report(execution)}
    return answer


def timeout_of(raw: Any, default: float, longest: float) -> float:
    """`timeout` as a number of seconds (Jaseci handed Celery the query text)."""
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise InvalidInput("timeout must be a number of seconds", field="timeout") from None
    if not 0 <= value <= longest:
        raise InvalidInput(f"timeout must be 0-{longest:g} seconds", field="timeout")
    return value
