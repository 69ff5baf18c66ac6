"""Start messages as they arrive: a plain task id or label, or a JSON request."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from taskgate.domain.errors import InvalidInput
from taskgate.domain.selectors import MAX_SELECTORS, Selector, parse_selector

MAX_PAYLOAD = 256 * 1024


class JsonStart(BaseModel):
    model_config = ConfigDict(extra="forbid")
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
        return StartMessage(selectors=[parse_selector(text)])
    try:
        raw = json.loads(text)
        body = JsonStart.model_validate(raw)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"payload: not valid JSON ({exc.msg})", field="payload") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "payload"
        raise InvalidInput(f"{where}: {first['msg']}", field=where) from exc
    return StartMessage(
        selectors=[parse_selector(s) for s in body.tasks],
        params=body.params,
        idempotency_key=body.idempotency_key,
        all_must_exist=body.all_must_exist,
        correlation_id=body.correlation_id,
    )
