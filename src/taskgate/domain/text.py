"""What text may come in at the edge, and the bounds of the numbers that do.

A NUL byte cannot be stored by PostgreSQL (and ends a C string in an environment variable or
an argv), and a lone surrogate (`"\\ud800"`, which JSON may spell) is no UTF-8 at all: both
are refused where they come in, naming the field, on every door and in the config file,
whatever the database. `Text` is that rule as a pydantic type; `bad_text_at` finds the first
such string in a JSON tree (bodies, parameters, payloads) for the places that are no model.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator

from taskgate.domain.errors import InvalidInput

# The pydantic error type of a refused string; its `ctx.field` is the path inside the model.
BAD_TEXT = "bad_text"
# The largest integer a BIGINT column holds; an offset or id past it can match nothing.
MAX_INT64 = 2**63 - 1
# An INTEGER column (PostgreSQL's serial ids).
MAX_INT32 = 2**31 - 1


def text_problem(value: str) -> str | None:
    """Why `value` may not come in, or None when it may."""
    if "\x00" in value:
        return "must not contain a NUL character (\\u0000)"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "must not contain a lone surrogate (\\ud800-\\udfff); it is not UTF-8"
    return None


def check_text(value: str) -> str:
    problem = text_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


# A string from outside: refused (422 naming the field) when it holds NUL or a lone surrogate.
Text = Annotated[str, AfterValidator(check_text)]


def bad_text_at(value: Any, where: str = "") -> tuple[str, str] | None:
    """(dotted path, problem) of the first string in `value` (keys too) that may not come in."""
    if isinstance(value, str):
        problem = text_problem(value)
        return None if problem is None else (where, problem)
    if isinstance(value, Mapping):
        for key, item in value.items():
            here = f"{where}.{key}" if where else str(key)
            if isinstance(key, str) and (problem := text_problem(key)) is not None:
                return (where or "(key)", f"a key {problem}")
            found = bad_text_at(item, here)
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = bad_text_at(item, f"{where}.{index}" if where else str(index))
            if found is not None:
                return found
    return None


def error_field(loc: tuple[Any, ...] | list[Any], error_type: str, ctx: Mapping[str, Any]) -> str:
    """The dotted field a pydantic error is about, the path inside the model included."""
    parts = [str(part) for part in loc]
    if error_type == BAD_TEXT and ctx.get("field"):
        parts.append(str(ctx["field"]))
    return ".".join(parts)


def refuse_bad_text(value: Any, where: str) -> None:
    """InvalidInput naming the field when a string in `value` may not come in."""
    found = bad_text_at(value, where)
    if found is not None:
        field, problem = found
        raise InvalidInput(f"{field}: {problem}", field=field)


def check_instant(value: datetime) -> datetime:
    """An instant that has a UTC time: year 9999 with a negative offset has none."""
    if value.tzinfo is not None:
        try:
            value.astimezone(UTC)
        except OverflowError:
            raise ValueError("out of range: the instant is past the year 9999 in UTC") from None
    return value


# A moment given by a caller (since, until, after): one that can be compared and stored.
Instant = Annotated[datetime, AfterValidator(check_instant)]
