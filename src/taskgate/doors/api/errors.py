"""Every error leaves as JSON with a message (and the field, when one is to blame)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from taskgate.domain.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    TaskgateError,
    TooManyRequests,
    Unauthorized,
)
from taskgate.domain.text import error_field
from taskgate.doors.api.methods import allowed_methods
from taskgate.doors.errorstatus import ErrorStatuses, status_for

# The native API's status for each refusal of the core.
HTTP_STATUS: ErrorStatuses = {
    TaskgateError: 400,
    InvalidInput: 422,
    NotFound: 404,
    Conflict: 409,
    Unauthorized: 401,
    Forbidden: 403,
    TooManyRequests: 429,
}


def error_body(code: str, message: str, field: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"error": code, "message": message}
    if field is not None:
        body["field"] = field
    body.update(extra)
    return body


# The `error` code of the refusals made before any route runs (doors/originguard.py).
REFUSAL_CODES = {
    403: "forbidden",
    421: "misdirected",
    422: "invalid",
    429: "too_many_requests",
}


def refusal_body(status: int, message: str, field: str) -> bytes:
    code = REFUSAL_CODES.get(status, "bad_request")
    return json.dumps(error_body(code, message, field)).encode()


def _where(error: Mapping[str, Any]) -> str:
    return error_field(error["loc"], error.get("type", ""), error.get("ctx") or {})


async def _taskgate_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TaskgateError)
    return taskgate_error_response(exc)


def taskgate_error_response(exc: TaskgateError) -> JSONResponse:
    """The answer to a refusal of the core."""
    status = status_for(exc, HTTP_STATUS)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if isinstance(exc, TooManyRequests):
        headers = {"Retry-After": str(exc.retry_after)}
    return JSONResponse(exc.to_dict(), status_code=status, headers=headers)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    first: dict[str, Any] = dict(errors[0]) if errors else {"loc": (), "msg": "invalid"}
    if first.get("type") == "json_invalid":
        return JSONResponse(
            error_body("bad_request", f"malformed JSON: {first.get('ctx', {}).get('error', '')}"),
            status_code=400,
        )
    if first.get("type") == "missing" and tuple(first["loc"]) == ("body",):
        return JSONResponse(
            error_body("bad_request", "a JSON request body is required", "body"), status_code=400
        )
    field = _where(first)
    details = [{"field": _where(e), "message": e["msg"]} for e in errors]
    return JSONResponse(
        error_body("invalid", f"{field}: {first['msg']}", field, details=details),
        status_code=422,
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(
        exc.status_code, "bad_request"
    )
    headers = exc.headers
    if exc.status_code == 405:
        # Every method the path answers, not only those of the first route that has it.
        allow = ", ".join(allowed_methods(request.app.router.routes, request.scope))
        headers = {**(headers or {}), "Allow": allow}
    return JSONResponse(
        error_body(code, str(exc.detail)), status_code=exc.status_code, headers=headers
    )


def unexpected_body() -> bytes:
    """The answer to an error nobody meant (doors/unexpected.py logs it, once)."""
    return json.dumps(error_body("internal", "internal error; see the server log")).encode()


def install(app: FastAPI) -> None:
    app.add_exception_handler(TaskgateError, _taskgate_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
