"""The OpenAPI description tells what the API answers: the error statuses of every route, with
the one error body they share, so that generated clients and the fuzzer agree with it."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict


class ErrorBody(BaseModel):
    """Every error of the native API (doors/api/errors.py)."""

    model_config = ConfigDict(extra="allow")

    error: str
    message: str
    field: str | None = None
    details: Any = None


# What any route may answer: its body or a header cannot be read, no key or the wrong one, a
# body too large, a field of the wrong type or value, too many failed keys from the address.
EVERY_ROUTE = {
    400: "Malformed JSON, or a header that cannot be read.",
    401: "No key, or a key that is unknown, expired or revoked.",
    403: "The key's role or task allow-list does not permit this; a cross-site request.",
    413: "The body is larger than server.max_body_bytes.",
    422: "A field has the wrong type or value; `field` names it.",
    429: "Too many failed authentications from this address; a start past the bound on "
    "executions waiting to run (executor.max_queued, a task's max_queued); see Retry-After.",
}
NOT_FOUND = "What the path, or a task the body names, refers to does not exist."
CONFLICT = "A label or id already in use; an Idempotency-Key reused for another request."
OPEN_ROUTES = ("/healthz", "/readyz")


ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}
CHANGING = {"post", "put", "delete", "patch"}


def _statuses(path: str, method: str) -> dict[int, str]:
    statuses: dict[int, str] = {422: EVERY_ROUTE[422]}
    if path not in OPEN_ROUTES:
        statuses.update(EVERY_ROUTE)
    if "{" in path or method in CHANGING:
        statuses[404] = NOT_FOUND
    if method in CHANGING:
        statuses[409] = CONFLICT
    return statuses


def describe_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with the error answers on every operation (the 422 in our body, not
    FastAPI's `detail` list)."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["ErrorBody"] = ErrorBody.model_json_schema(
        ref_template="#/components/schemas/{model}"
    )
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for status, text in _statuses(path, method).items():
                responses[str(status)] = {
                    "description": text,
                    "content": {"application/json": {"schema": ERROR_REF}},
                }
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    return schema


def declare_errors(app: FastAPI) -> None:
    """`app`'s /openapi.json declares the error answers of every route."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = describe_errors(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
