"""The QRS `?filter=` and `?orderby=` languages, parsed and evaluated over QRS-shaped JSON.

Entities are the dicts the QRS door renders (camelCase keys, dates as `...T16:12:18.152Z`).
Property names and string values compare case-insensitively, as on a real QRS; a path that
walks into a list matches when any element matches. See docs/qrs-filter.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from functools import lru_cache
from typing import Any

from taskgate.domain.errors import InvalidInput
from taskgate.domain.qrsenums import enum_for_property

MAX_FILTER_LENGTH = 10_000
MAX_NESTING = 100

FILTER_PREFIX = "Cannot parse the expression: "
ORDERBY_PREFIX = "Cannot parse the orderby expression: "

OPERATORS = frozenset({"eq", "ne", "gt", "ge", "lt", "le", "sw", "ew", "so"})
_STRING_OPERATORS = frozenset({"sw", "ew", "so"})
_KEYWORDS = frozenset({"and", "or"})

_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*\Z")
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?\Z")
_DATE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,7})?)?)?"
    r"(?:Z|[+-][0-9]{2}:?[0-9]{2})?\Z"
)
# .NET's DateTime.MinValue as SQL Server stores it: QRS's "never set".
_UNSET_DATE = datetime(1753, 1, 1, tzinfo=UTC)


class FilterError(InvalidInput):
    """A malformed `filter` or `orderby`; the message starts with QRS's own wording."""


def _filter_error(reason: str) -> FilterError:
    return FilterError(FILTER_PREFIX + reason, field="filter")


def _orderby_error(reason: str) -> FilterError:
    return FilterError(ORDERBY_PREFIX + reason, field="orderby")


# --- values -------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def parse_date(text: str) -> datetime | None:
    """A QRS date string as an aware datetime (naive means UTC), or None if it is not one."""
    if not _DATE.match(text):
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _number(text: str) -> int | float | None:
    if not _NUMBER.match(text):
        return None
    if "." in text:
        return float(text)
    try:
        return int(text)
    except ValueError:  # more digits than Python converts to int; infinity is close enough
        return float(text)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _lookup(obj: Mapping[str, Any], segment: str) -> Any:
    if segment in obj:
        return obj[segment]
    lowered = segment.lower()
    for key, value in obj.items():
        if isinstance(key, str) and key.lower() == lowered:
            return value
    return None


def _elements(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def path_values(entity: Mapping[str, Any], segments: Sequence[str]) -> list[Any]:
    """What a dotted path reaches: one value per list element when it walks through a list.

    An absent property (or one below a null or a scalar) reaches None, like a JSON null; an
    empty list reaches nothing, so no condition on it can hold.
    """
    current: list[Any] = [entity]
    for segment in segments:
        current = [
            _lookup(item, segment) if isinstance(item, Mapping) else None
            for value in current
            for item in _elements(value)
        ]
    return [item for value in current for item in _elements(value)]


# --- the filter AST -----------------------------------------------------------------------


class LiteralKind(Enum):
    STRING = "string"  # quoted
    GUID = "guid"
    NUMBER = "number"
    BOOLEAN = "boolean"
    NULL = "null"
    ENUM = "enum"  # a bare enum name, resolved to its integer


@dataclass(frozen=True)
class Literal:
    kind: LiteralKind
    text: str  # as written, unquoted
    number: int | float | None = None  # NUMBER, ENUM, and a quoted enum name or number
    boolean: bool | None = None
    date: datetime | None = None  # a quoted date

    @property
    def folded(self) -> str:
        return self.text.lower()


@dataclass(frozen=True)
class Comparison:
    path: tuple[str, ...]
    op: str
    literal: Literal

    def matches(self, entity: Mapping[str, Any]) -> bool:
        values = path_values(entity, self.path)
        if self.literal.kind is LiteralKind.NULL:
            if self.op == "eq":
                return any(v is None for v in values)
            return any(v is not None for v in values)
        return any(v is not None and _compare(v, self.op, self.literal) for v in values)

    def pinned(self, path: str) -> frozenset[str] | None:
        if self.op != "eq" or ".".join(self.path).lower() != path.lower():
            return None
        literal = self.literal
        if literal.kind is LiteralKind.GUID:
            return frozenset({literal.folded})
        # A quoted string that reads as a date, number or enum name also matches values
        # spelled differently, so it pins nothing.
        if literal.kind is LiteralKind.STRING and literal.date is None and literal.number is None:
            return frozenset({literal.folded})
        return None


@dataclass(frozen=True)
class AllOf:
    parts: tuple[Node, ...]

    def matches(self, entity: Mapping[str, Any]) -> bool:
        return all(part.matches(entity) for part in self.parts)

    def pinned(self, path: str) -> frozenset[str] | None:
        pins = [p for p in (part.pinned(path) for part in self.parts) if p is not None]
        if not pins:
            return None
        return frozenset.intersection(*pins)


@dataclass(frozen=True)
class AnyOf:
    parts: tuple[Node, ...]

    def matches(self, entity: Mapping[str, Any]) -> bool:
        return any(part.matches(entity) for part in self.parts)

    def pinned(self, path: str) -> frozenset[str] | None:
        union: set[str] = set()
        for part in self.parts:
            pin = part.pinned(path)
            if pin is None:
                return None
            union |= pin
        return frozenset(union)


Node = Comparison | AllOf | AnyOf


_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
}


def _compare(value: Any, op: str, literal: Literal) -> bool:
    if isinstance(value, str):
        return _compare_string(value, op, literal)
    if op in _STRING_OPERATORS:
        return False
    if isinstance(value, bool):
        return (
            literal.boolean is not None
            and op in ("eq", "ne")
            and _ORDER[op](value, literal.boolean)
        )
    if _is_number(value):
        return literal.number is not None and _ORDER[op](value, literal.number)
    return False


def _compare_string(value: str, op: str, literal: Literal) -> bool:
    folded = value.lower()
    if op == "sw":
        return folded.startswith(literal.folded)
    if op == "ew":
        return folded.endswith(literal.folded)
    if op == "so":
        return literal.folded in folded
    if literal.date is not None:
        value_date = parse_date(value)
        if value_date is not None:
            return _ORDER[op](value_date, literal.date)
    if literal.kind is LiteralKind.NUMBER and op not in ("eq", "ne"):
        value_number = _number(value)
        return value_number is not None and _ORDER[op](value_number, literal.number)
    return _ORDER[op](folded, literal.folded)


# --- the filter parser --------------------------------------------------------------------


class _TokenKind(Enum):
    WORD = "word"
    STRING = "string"
    OPEN = "("
    CLOSE = ")"
    END = "end"


@dataclass(frozen=True)
class _Token:
    kind: _TokenKind
    text: str
    position: int  # 1-based character position, for messages

    def describe(self) -> str:
        if self.kind is _TokenKind.END:
            return "the end of the expression"
        shown = f"string '{self.text}'" if self.kind is _TokenKind.STRING else f"'{self.text}'"
        return f"{shown} at character {self.position}"


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
        elif char in "()":
            kind = _TokenKind.OPEN if char == "(" else _TokenKind.CLOSE
            tokens.append(_Token(kind, char, i + 1))
            i += 1
        elif char == "'":
            start = i
            parts: list[str] = []
            i += 1
            while True:
                end = text.find("'", i)
                if end < 0:
                    raise _filter_error(f"unterminated string starting at character {start + 1}")
                parts.append(text[i:end])
                if text.startswith("''", end):
                    parts.append("'")
                    i = end + 2
                else:
                    i = end + 1
                    break
            tokens.append(_Token(_TokenKind.STRING, "".join(parts), start + 1))
        else:
            start = i
            while i < len(text) and not text[i].isspace() and text[i] not in "()'":
                i += 1
            tokens.append(_Token(_TokenKind.WORD, text[start:i], start + 1))
    tokens.append(_Token(_TokenKind.END, "", len(text) + 1))
    return tokens


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.index = 0
        self.depth = 0

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def take(self) -> _Token:
        token = self.tokens[self.index]
        if token.kind is not _TokenKind.END:
            self.index += 1
        return token

    def at_keyword(self, keyword: str) -> bool:
        token = self.peek()
        return token.kind is _TokenKind.WORD and token.text.lower() == keyword

    def parse(self) -> Node:
        node = self.expression()
        token = self.peek()
        if token.kind is not _TokenKind.END:
            if token.kind is _TokenKind.CLOSE:
                raise _filter_error(f"unbalanced ')' at character {token.position}")
            raise _filter_error(f"unexpected {token.describe()}, expected 'and' or 'or'")
        return node

    def expression(self) -> Node:
        parts = [self.conjunction()]
        while self.at_keyword("or"):
            self.take()
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else AnyOf(tuple(parts))

    def conjunction(self) -> Node:
        parts = [self.primary()]
        while self.at_keyword("and"):
            self.take()
            parts.append(self.primary())
        return parts[0] if len(parts) == 1 else AllOf(tuple(parts))

    def primary(self) -> Node:
        token = self.peek()
        if token.kind is not _TokenKind.OPEN:
            return self.comparison()
        self.take()
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise _filter_error(f"parentheses nested deeper than {MAX_NESTING}")
        if self.peek().kind is _TokenKind.CLOSE:
            raise _filter_error(f"empty parentheses at character {token.position}")
        node = self.expression()
        closing = self.take()
        if closing.kind is not _TokenKind.CLOSE:
            if closing.kind is _TokenKind.END:
                raise _filter_error(f"missing ')' for '(' at character {token.position}")
            raise _filter_error(f"unexpected {closing.describe()}, expected 'and', 'or' or ')'")
        self.depth -= 1
        return node

    def comparison(self) -> Comparison:
        token = self.take()
        if token.kind is not _TokenKind.WORD or token.text.lower() in _KEYWORDS:
            raise _filter_error(f"expected a property name, found {token.describe()}")
        if not _PATH.match(token.text):
            raise _filter_error(f"invalid property name {token.describe()}")
        path = tuple(token.text.split("."))
        op_token = self.take()
        if op_token.kind is _TokenKind.END:
            raise _filter_error(f"missing operator after {token.describe()}")
        op = op_token.text.lower()
        if op_token.kind is not _TokenKind.WORD or op not in OPERATORS:
            raise _filter_error(
                f"unknown operator {op_token.describe()}, expected one of "
                "eq, ne, gt, ge, lt, le, sw, ew, so"
            )
        value_token = self.take()
        if value_token.kind not in (_TokenKind.WORD, _TokenKind.STRING) or (
            value_token.kind is _TokenKind.WORD and value_token.text.lower() in _KEYWORDS
        ):
            raise _filter_error(
                f"missing value after '{op_token.text}', found {value_token.describe()}"
            )
        literal = _literal(value_token, path[-1])
        if op in _STRING_OPERATORS and literal.kind is not LiteralKind.STRING:
            raise _filter_error(
                f"operator '{op_token.text}' needs a quoted string, found {value_token.describe()}"
            )
        if op not in ("eq", "ne") and literal.kind in (LiteralKind.NULL, LiteralKind.BOOLEAN):
            raise _filter_error(
                f"operator '{op_token.text}' cannot compare with {value_token.describe()}"
            )
        return Comparison(path, op, literal)


def _literal(token: _Token, prop: str) -> Literal:
    enum = enum_for_property(prop)
    text = token.text
    if token.kind is _TokenKind.STRING:
        number = _number(text)
        if number is None and enum is not None:
            number = enum.get(text.lower())
        return Literal(LiteralKind.STRING, text, number=number, date=parse_date(text))
    folded = text.lower()
    if folded == "null":
        return Literal(LiteralKind.NULL, text)
    if folded in ("true", "false"):
        return Literal(LiteralKind.BOOLEAN, text, boolean=folded == "true")
    if _GUID.match(text):
        return Literal(LiteralKind.GUID, text)
    number = _number(text)
    if number is not None:
        return Literal(LiteralKind.NUMBER, text, number=number)
    if enum is not None and folded in enum:
        return Literal(LiteralKind.ENUM, text, number=enum[folded])
    if enum is not None:
        raise _filter_error(f"{token.describe()} is no value of '{prop}' (quote strings: '...')")
    raise _filter_error(f"unknown value {token.describe()} (quote strings: '...')")


@dataclass(frozen=True)
class Filter:
    """A parsed filter; `Filter(None)` (an empty filter text) matches everything."""

    root: Node | None

    @property
    def empty(self) -> bool:
        return self.root is None

    def matches(self, entity: Mapping[str, Any]) -> bool:
        return self.root is None or self.root.matches(entity)

    def pinned(self, path: str) -> frozenset[str] | None:
        """Lower-case values the filter's top-level `path eq '...'`/GUID conditions allow.

        Sound: an entity none of whose values at `path` is in the set cannot match. None when
        the filter does not pin `path`. Only quoted strings (that are no date, number or enum
        name) and bare GUIDs pin; for a path through a list, "value" means any element's.
        """
        return None if self.root is None else self.root.pinned(path)


def parse_filter(text: str) -> Filter:
    """Parse a QRS filter. Empty or blank text gives a Filter that matches everything."""
    if len(text) > MAX_FILTER_LENGTH:
        raise _filter_error(f"the filter is longer than {MAX_FILTER_LENGTH} characters")
    if not text.strip():
        return Filter(None)
    return Filter(_Parser(_tokenize(text)).parse())


# --- orderby ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SortKey:
    path: tuple[str, ...]
    descending: bool = False


def _sort_value(item: Mapping[str, Any], path: tuple[str, ...]) -> tuple[Any, ...]:
    # Missing, null and the 1753 "unset" date rank first; then one rank per type so that
    # mixed types never compare with each other.
    values = [v for v in path_values(item, path) if v is not None]
    if not values:
        return (0,)
    value = values[0]
    if isinstance(value, bool):
        return (1, 0, value)
    if _is_number(value):
        return (1, 1, value)
    if isinstance(value, str):
        date = parse_date(value)
        if date is not None:
            return (0,) if date <= _UNSET_DATE else (1, 2, date)
        return (1, 3, value.lower())
    return (1, 4)


def _sort_key(path: tuple[str, ...]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    return lambda item: _sort_value(item, path)


@dataclass(frozen=True)
class OrderBy:
    keys: tuple[SortKey, ...]

    def sort(self, items: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        ordered = list(items)
        # Stable sorts applied from the last key to the first give the multi-key order.
        for key in reversed(self.keys):
            ordered.sort(key=_sort_key(key.path), reverse=key.descending)
        return ordered


def parse_orderby(text: str) -> OrderBy:
    """Parse `<path> [asc|desc], ...`. Empty or blank text keeps the given order."""
    if len(text) > MAX_FILTER_LENGTH:
        raise _orderby_error(f"longer than {MAX_FILTER_LENGTH} characters")
    if not text.strip():
        return OrderBy(())
    keys: list[SortKey] = []
    for number, item in enumerate(text.split(","), start=1):
        words = item.split()
        if not words:
            raise _orderby_error(f"sort key {number} is empty")
        if not _PATH.match(words[0]):
            raise _orderby_error(f"invalid property name {words[0]!r} in sort key {number}")
        if len(words) > 2:
            raise _orderby_error(f"unexpected {words[2]!r} in sort key {number}")
        direction = words[1].lower() if len(words) == 2 else "asc"
        if direction not in ("asc", "desc"):
            raise _orderby_error(
                f"unknown direction {words[1]!r} in sort key {number}, expected asc or desc"
            )
        keys.append(SortKey(tuple(words[0].split(".")), direction == "desc"))
    return OrderBy(tuple(keys))
