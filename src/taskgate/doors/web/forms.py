"""The fields of a posted form (application/x-www-form-urlencoded), read once per request.

Parsed here rather than with python-multipart: the pages post only small url-encoded forms.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import Request

from taskgate.domain.errors import InvalidInput

MAX_FORM_BYTES = 256 * 1024


class Form:
    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs

    def get(self, name: str, default: str = "") -> str:
        for key, value in self.pairs:
            if key == name:
                return value
        return default

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.pairs if key == name]

    def optional(self, name: str) -> str | None:
        value = self.get(name).strip()
        return value or None


async def form_of(request: Request) -> Form:
    cached = getattr(request.state, "form", None)
    if isinstance(cached, Form):
        return cached
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise InvalidInput(f"form: larger than {MAX_FORM_BYTES} bytes", field="form")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if body and kind not in ("application/x-www-form-urlencoded", ""):
        raise InvalidInput("form: send application/x-www-form-urlencoded", field="form")
    try:
        pairs = parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=1000)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(f"form: {exc}", field="form") from None
    form = Form(pairs)
    request.state.form = form
    return form
