"""An answer a door's ASGI middleware sends itself, before or instead of the app: a refusal
(address, rate, size, text, origin, key) or the 500 of an unexpected error."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import Send

JSON_UTF8 = b"application/json; charset=utf-8"


async def send_json(
    send: Send,
    status: int,
    body: bytes,
    *,
    content_type: bytes = JSON_UTF8,
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    """The whole answer: `body` (JSON already encoded) with its type and length, then
    `headers`."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
