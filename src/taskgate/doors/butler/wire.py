"""Butler's wire format: Fastify's JSON, its error bodies, its body parsing and coercions."""

from __future__ import annotations

import json
import math
from http import HTTPStatus
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from taskgate.domain.errors import Forbidden, TaskgateError, TooManyRequests, Unauthorized
from taskgate.domain.text import bad_text_at
from taskgate.doors.errorstatus import ErrorStatuses, status_for

JSON_TYPE = "application/json; charset=utf-8"
TEXT_TYPE = "text/plain; charset=utf-8"


class ButlerError(Exception):
    """An answer in Fastify's error shape; `code` only where Fastify itself sets one."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers


# Butler answers every refused request with 400 and a message; a missing or unknown API key
# gets 401, a key whose role may not do it 403, a source slowed down after failed keys 429,
# and so does a start refused because too many executions are waiting to run.
STATUS_OF_CORE_ERROR: ErrorStatuses = {
    TaskgateError: 400,
    Unauthorized: 401,
    Forbidden: 403,
    TooManyRequests: 429,
}


def core_refusal(exc: TaskgateError) -> ButlerError:
    """The core's refusal in Butler's words (a 429 with Retry-After, as @fastify/rate-limit
    sends it: a start refused by the queue's bound, or a source slowed down)."""
    headers = None
    if isinstance(exc, TooManyRequests):
        headers = {"Retry-After": str(exc.retry_after)}
    return ButlerError(status_for(exc, STATUS_OF_CORE_ERROR), exc.message, headers=headers)


def validation_error(message: str) -> ButlerError:
    return ButlerError(400, message, "FST_ERR_VALIDATION")


def error_body(status: int, message: str, code: str | None = None) -> bytes:
    body: dict[str, Any] = {"statusCode": status}
    if code:
        body["code"] = code
    body["error"] = HTTPStatus(status).phrase
    body["message"] = message
    return dumps(body).encode()


def refusal_body(status: int, message: str, field: str) -> bytes:
    """A refusal made before the door (doors/originguard.py), in Fastify's error shape."""
    return error_body(status, message)


def error_response(exc: ButlerError) -> Response:
    return Response(
        error_body(exc.status, exc.message, exc.code),
        exc.status,
        headers=exc.headers,
        media_type=JSON_TYPE,
    )


def dumps(value: Any, indent: int | None = None) -> str:
    """JSON.stringify: compact, or indented as Butler's pretty-printed answers are."""
    if indent is None:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return json.dumps(value, ensure_ascii=False, indent=indent)


def json_response(value: Any, status: int = 200) -> Response:
    return Response(dumps(value), status, media_type=JSON_TYPE)


def text_json(value: Any, status: int = 200, indent: int | None = None) -> Response:
    """Butler handlers that send a JSON string get text/plain from Fastify."""
    return Response(dumps(value, indent), status, media_type=TEXT_TYPE)


_NO_BODY = object()


async def read_body(request: Request) -> Any:
    """The body as Fastify parses it; `_NO_BODY` stands for no body at all."""
    raw = await request.body()
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        if not raw.strip():
            raise ButlerError(
                400,
                "Body cannot be empty when content-type is set to 'application/json'",
                "FST_ERR_CTP_EMPTY_JSON_BODY",
            )
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):
            # RecursionError: nested deeper than Python's parser goes (JSON.parse's limit).
            raise ButlerError(
                400,
                "Body is not valid JSON but content-type is set to 'application/json'",
                "FST_ERR_CTP_INVALID_JSON_BODY",
            ) from None
        _refuse_bad_text(body)
        return body
    if not raw:
        return _NO_BODY
    if media == "text/plain" or not media:
        text = raw.decode(errors="replace")
        _refuse_bad_text(text)
        return text
    raise ButlerError(415, f"Unsupported Media Type: {media}", "FST_ERR_CTP_INVALID_MEDIA_TYPE")


def _refuse_bad_text(body: Any) -> None:
    found = bad_text_at(body, "body")
    if found is not None:
        field, problem = found
        raise validation_error(f"{field.replace('.', '/')} {problem}")


def has_body(body: Any) -> bool:
    return body is not _NO_BODY and body is not None


def as_string(value: Any, where: str) -> str:
    """AJV's coercion to a string: numbers and booleans become their JavaScript text."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value.is_integer() else repr(value)
    raise validation_error(f"{where} must be string")


def parse_ttl(value: Any, where: str) -> int | None:
    """Milliseconds as Butler reads them (`parseInt`); None, '', 0 or less: no expiry."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise validation_error(f"{where} must be number") from None
    else:
        raise validation_error(f"{where} must be number")
    if not math.isfinite(number) or number < 1:
        return None
    return int(number)


def parse_bool_query(request: Request, name: str) -> bool:
    value = request.query_params.get(name)
    if value is None or value == "false":
        return False
    if value == "true":
        return True
    raise validation_error(f"querystring/{name} must be boolean")
