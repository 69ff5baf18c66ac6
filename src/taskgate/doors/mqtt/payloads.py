"""Start messages as they arrive: a plain task id or label, or a JSON request."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import Field, ValidationError

from taskgate.domain.errors import InvalidInput
from taskgate.domain.model import Strict
from taskgate.domain.selectors import MAX_SELECTORS, Selector, parse_selector
from taskgate.domain.text import error_field, refuse_bad_text

MAX_PAYLOAD = 256 * 1024


class JsonStart(Strict):
    tasks: list[str] = Field(..., min_length=1, max_length=MAX_SELECTORS)
    params: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str | None = Field(None, min_length=1, max_length=200)
    all_must_exist: bool = False
    # Echoed in every answer, for clients whose broker or library has no MQTT 5 properties.
    correlation_id: str | int | None = None


@dataclass(frozen=True)
class StartMessage:
    selectors: list[Selector]
    params: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None
    all_must_exist: bool = False
    correlation_id: str | int | None = None


def parse_start(payload: bytes) -> StartMessage:
    """The start a message asks for; InvalidInput names what is wrong with it."""
    if len(payload) > MAX_PAYLOAD:
        raise InvalidInput(f"payload: larger than {MAX_PAYLOAD} bytes", field="payload")
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise InvalidInput("payload: not UTF-8 text", field="payload") from exc
    if not text:
        raise InvalidInput(
            "payload: empty; send a task id, a label or a JSON object", field="payload"
        )
    if not text.startswith("{"):
        # Butler's form: the whole payload names one task (here an id, or a label too).
        refuse_bad_text(text, "payload")
        return StartMessage(selectors=[parse_selector(text)])
    try:
        raw = json.loads(text)
        body = JsonStart.model_validate(raw)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"payload: not valid JSON ({exc.msg})", field="payload") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = error_field(first["loc"], first["type"], first.get("ctx", {})) or "payload"
        raise InvalidInput(f"{where}: {first['msg']}", field=where) from exc
    except (RecursionError, ValueError) as exc:
        # Nested too deep, or an integer of more digits than Python converts.
        raise InvalidInput(f"payload: not JSON taskgate can read ({exc})", field="payload") from exc
    return StartMessage(
        selectors=[parse_selector(s) for s in body.tasks],
        params=body.params,
        idempotency_key=body.idempotency_key,
        all_must_exist=body.all_must_exist,
        correlation_id=body.correlation_id,
    )
