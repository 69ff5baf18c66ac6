"""Butler's key-value endpoints over the core's persistent store."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from taskgate.core.kv import KvService
from taskgate.domain.errors import NotFound
from taskgate.domain.kv import KvWrite
from taskgate.doors.butler.wire import (
    ButlerError,
    as_string,
    has_body,
    json_response,
    parse_ttl,
    read_body,
    text_json,
    validation_error,
)
from taskgate.doors.state import services_of


def _kv(request: Request) -> KvService:
    return services_of(request).kv


def _query_key(request: Request) -> str:
    key = request.query_params.get("key")
    if key is None:
        raise validation_error("querystring must have required property 'key'")
    return key


def _not_found(exc: NotFound, namespace: str, key: str = "") -> ButlerError:
    if exc.field == "key":
        return ButlerError(400, f"Key '{key}' not found in namespace: {namespace}")
    return ButlerError(400, f"Namespace not found: {namespace}")


async def namespaces(request: Request) -> Response:
    return json_response(await _kv(request).namespaces())


async def get_value(request: Request) -> Response:
    namespace, key = request.path_params["namespace"], _query_key(request)
    try:
        entry = await _kv(request).get(namespace, key)
    except NotFound as exc:
        raise _not_found(exc, namespace, key) from None
    return json_response({"namespace": namespace, "key": key, "value": entry.value})


async def key_exists(request: Request) -> Response:
    namespace, key = request.path_params["namespace"], _query_key(request)
    try:
        entry = await _kv(request).find(namespace, key)
    except NotFound as exc:
        raise _not_found(exc, namespace, key) from None
    if entry is None:
        return json_response({"keyExists": False, "keyValue": {}})
    value = {"namespace": namespace, "key": key, "value": entry.value}
    return json_response({"keyExists": True, "keyValue": value})


async def add_value(request: Request) -> Response:
    namespace = request.path_params["namespace"]
    body: Any = await read_body(request)
    if not has_body(body) or not isinstance(body, dict):
        raise validation_error("body must be object")
    key = as_string(body["key"], "body/key") if body.get("key") is not None else ""
    if not key:
        raise ButlerError(400, "Required parameter is missing")
    ttl = parse_ttl(body.get("ttl"), "body/ttl")
    answer: dict[str, Any] = {"namespace": namespace, "key": key}
    if body.get("value") is None:
        # Butler stores nothing then, but the namespace comes into being all the same.
        await _kv(request).ensure_namespace(namespace)
    else:
        value = as_string(body["value"], "body/value")
        await _kv(request).put(KvWrite(namespace, key, value, ttl))
        answer["value"] = value
    answer["ttl"] = ttl or 0
    return json_response(answer, status=201)


async def delete_value(request: Request) -> Response:
    namespace, key = request.path_params["namespace"], request.path_params["key"]
    try:
        await _kv(request).delete(namespace, key)
    except NotFound as exc:
        raise _not_found(exc, namespace, key) from None
    return Response(status_code=204)


async def delete_namespace(request: Request) -> Response:
    namespace = request.path_params["namespace"]
    try:
        await _kv(request).delete_namespace(namespace)
    except NotFound as exc:
        raise _not_found(exc, namespace) from None
    return Response(status_code=204)


async def key_list(request: Request) -> Response:
    namespace = request.path_params["namespace"]
    try:
        entries = await _kv(request).entries(namespace)
    except NotFound as exc:
        raise _not_found(exc, namespace) from None
    return text_json({"namespace": namespace, "keys": [{"key": e.key} for e in entries]})
