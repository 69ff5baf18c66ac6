"""Templates: text with `{{ path }}` placeholders, resolved against a scope of named values.

- A placeholder that is the whole value keeps the JSON type of what it finds (a number stays
  a number, an object an object); one inside text is written as text (numbers, booleans and
  null as JSON, objects and lists as compact JSON).
- A path that finds nothing is an error naming it, unless the placeholder gives a default:
  `{{ page ?? 1 }}`, `{{ user.name ?? "anonymous" }}` (the default is a JSON value).
- `render_deep` substitutes inside objects (keys and values) and lists, at any depth.

Placeholders are parsed once, when the template is read, so a typo fails at save time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from taskgate.domain.expressions.errors import ExpressionError, MissingValue
from taskgate.domain.expressions.paths import MISSING, Path, parse_path, walk

_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_NO_DEFAULT: Any = object()


@dataclass(frozen=True)
class Placeholder:
    path: Path
    default: Any = _NO_DEFAULT

    def value(self, scope: Any) -> Any:
        found, why = walk(self.path, scope, scope)
        if found is not MISSING:
            return found
        if self.default is not _NO_DEFAULT:
            return self.default
        raise MissingValue(self.path.text, why)


@dataclass(frozen=True)
class Template:
    """Literal text and placeholders, in order."""

    parts: tuple[str | Placeholder, ...]
    text: str

    @property
    def is_literal(self) -> bool:
        return all(isinstance(part, str) for part in self.parts)

    def render(self, scope: Any) -> Any:
        if len(self.parts) == 1 and isinstance(self.parts[0], Placeholder):
            return self.parts[0].value(scope)
        return "".join(
            part if isinstance(part, str) else as_text(part.value(scope)) for part in self.parts
        )


def parse_template(text: str, *, where: str = "") -> Template:
    """Read a template (parsed once per text and place: templates are immutable, and a run
    renders the same ones over and over)."""
    return _parse_template(text, where)


@lru_cache(maxsize=4096)
def _parse_template(text: str, where: str) -> Template:
    parts: list[str | Placeholder] = []
    end = 0
    for match in _PLACEHOLDER.finditer(text):
        if match.start() > end:
            parts.append(text[end : match.start()])
        parts.append(_placeholder(match.group(1), match.start(), where))
        end = match.end()
    if end < len(text) or not parts:
        parts.append(text[end:])
    return Template(tuple(parts), text)


def _placeholder(inside: str, offset: int, where: str) -> Placeholder:
    path_text, sep, default_text = inside.partition("??")
    try:
        path = parse_path(path_text.strip())
    except ExpressionError as exc:
        raise ExpressionError(
            f"in {{{{{inside}}}}}: {exc.message}", where=where, position=offset
        ) from None
    if not sep:
        return Placeholder(path)
    try:
        default = json.loads(default_text)
    except ValueError:
        raise ExpressionError(
            f"in {{{{{inside}}}}}: the default after ?? must be a JSON value",
            where=where,
            position=offset,
        ) from None
    return Placeholder(path, default)


def as_text(value: Any) -> str:
    """How a value reads inside text: strings as they are, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def render_deep(value: Any, scope: Any, *, where: str = "") -> Any:
    """`value` with every string in it (object keys included) rendered as a template.
    ExpressionError for a placeholder that cannot be read, MissingValue for one that finds
    nothing; both say where in `value` it is."""
    if isinstance(value, str):
        try:
            return parse_template(value, where=where).render(scope)
        except MissingValue as exc:
            raise MissingValue(exc.path, f"{exc.why} (in {where or 'the value'})") from None
    if isinstance(value, Mapping):
        rendered: dict[str, Any] = {}
        for key, item in value.items():
            name = render_deep(key, scope, where=where) if isinstance(key, str) else key
            rendered[as_text(name)] = render_deep(item, scope, where=_at(where, str(key)))
        return rendered
    if isinstance(value, list):
        return [render_deep(item, scope, where=_at(where, str(i))) for i, item in enumerate(value)]
    return value


def check_deep(
    value: Any, *, where: str = "", parse: Callable[..., Template] = parse_template
) -> None:
    """Parse every template in `value` (at save time), keys too, at any depth, with `parse`
    (a dialect's parser, called as `parse(text, where=...)`): ExpressionError names the first
    bad one."""
    if isinstance(value, str):
        parse(value, where=where)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str):
                parse(key, where=where)
            check_deep(item, where=_at(where, str(key)), parse=parse)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            check_deep(item, where=_at(where, str(i)), parse=parse)


def _at(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name
