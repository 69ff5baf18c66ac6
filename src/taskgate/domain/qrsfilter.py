"""The QRS `?filter=` language, parsed and evaluated over QRS-shaped JSON (`?orderby=` is
domain/qrsorderby.py; what both read from an entity, domain/qrsvalues.py).

Entities are the dicts the QRS door renders (camelCase keys, dates as `...T16:12:18.152Z`).
Property names and string values compare case-insensitively, as on a real QRS; a path that
walks into a list matches when any element matches. See docs/qrs-filter.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from taskgate.domain.errors import InvalidInput
from taskgate.domain.qrsenums import enum_for_property
from taskgate.domain.qrsvalues import (
    PROPERTY_PATH,
    is_number,
    parse_date,
    parse_number,
    path_values,
)

MAX_FILTER_LENGTH = 10_000
MAX_NESTING = 100

FILTER_PREFIX = "Cannot parse the expression: "

OPERATORS = frozenset({"eq", "ne", "gt", "ge", "lt", "le", "sw", "ew", "so"})
_STRING_OPERATORS = frozenset({"sw", "ew", "so"})
_KEYWORDS = frozenset({"and", "or"})

_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")


class FilterError(InvalidInput):
    """A malformed `filter` or `orderby`; the message starts with QRS's own wording."""


def _filter_error(reason: str) -> FilterError:
    return FilterError(FILTER_PREFIX + reason, field="filter")


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
    if is_number(value):
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
        value_number = parse_number(value)
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
        if not PROPERTY_PATH.match(token.text):
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
        number = parse_number(text)
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
    number = parse_number(text)
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
